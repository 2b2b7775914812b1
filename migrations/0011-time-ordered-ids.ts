import { type Kysely, sql } from 'kysely';

/**
 * Time-ordered ids for the rows every send writes: messages and outbox events (issue 12: the send
 * as cheap as the plan's).
 *
 * Their ids were random (`gen_random_uuid()`, version 4), so each send inserted into a random leaf
 * page of `messages_pkey` and of `outbox_events_pkey`: at full size (2 million messages, an index
 * far larger than the buffer cache of the machine the benchmark runs on) that page is rarely cached,
 * and after each checkpoint its first change writes the whole page to the WAL. The send waits for
 * the WAL to be flushed at commit, and on this machine that flush is what 32 concurrent senders
 * wait on most (77 % of the samples of active backends were `LWLock:WALWrite`). With ids that start
 * with the time (version 7, RFC 9562: 48 bits of Unix milliseconds, then 74 random bits), every
 * insert goes to the right-most leaf, which stays cached and is written to the WAL whole once per
 * checkpoint. Measured at full size, pgbench, 32 senders, three interleaved rounds of 6 s: full
 * page images per send 6.9–8.2 → 2.5–3.0, WAL per send 43–52 KB → 18–21 KB, 821–929 → 868–956
 * sends per second.
 *
 * What a client sees does not change: an id is still a UUID, as unguessable as access requires
 * (74 random bits; reading a message takes being in its conversation, not knowing its id), and
 * nothing orders by id. It does tell the millisecond the row was made, which `createdAt` already
 * says.
 *
 * `uuid_v7()` is one SQL expression, so the planner inlines it into the inserts that use the
 * default (no function call per row). PostgreSQL 18 has a built-in `uuidv7()`; this one can give
 * way to it then. Ids already stored keep their value: only new rows are ordered, and changing the
 * default is a catalog change that takes no lock on the rows.
 */
const statements = [
  sql`CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(set_byte(overlay(uuid_send(gen_random_uuid())
                                 PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                                 FROM 1 FOR 6),
                         6, (get_byte(uuid_send(gen_random_uuid()), 6) & 15) | 112), 'hex')::uuid
$$`,
  sql`ALTER TABLE messages ALTER COLUMN id SET DEFAULT uuid_v7()`,
  sql`ALTER TABLE outbox_events ALTER COLUMN id SET DEFAULT uuid_v7()`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE outbox_events ALTER COLUMN id SET DEFAULT gen_random_uuid()`.execute(db);
  await sql`ALTER TABLE messages ALTER COLUMN id SET DEFAULT gen_random_uuid()`.execute(db);
  await sql`DROP FUNCTION uuid_v7()`.execute(db);
}
