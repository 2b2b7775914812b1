import { type Kysely, sql } from 'kysely';

/**
 * The digest sweep finds its candidates through the conversations' activity index, not an index of
 * its own on every participant row (issue 12: the send as cheap as the plan's).
 *
 * `participants_awaiting_digest` (0008) indexed `activity_at` of every participant row with
 * something unread. Every send rewrites the activity of each of its conversation's participants
 * (their inbox order and unread counts), so each send added one entry per recipient to that index,
 * all of them at its right-most leaf (the key is the time of the send): the page every concurrent
 * sender was writing. Measured at full size, pgbench, 32 senders, six interleaved rounds of 3 s
 * with the first second of each not counted, the same database with and without the index:
 * 2,865 against 3,144 sends (+10 %), against the plan's 4,163.
 *
 * A participant's `activity_at` is the conversation's `updated_at` (mirrored by
 * `mirror_conversation_activity`, checked by the tests' invariants), so the sweep walks
 * `conversations_by_activity`, which every send already maintains, over the last day's
 * conversations and their participants by primary key. It reads the participants with nothing
 * unread too (about one in three rows at the benchmark's sizes); the sweep runs once a minute,
 * sends run all the time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX participants_awaiting_digest`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX participants_awaiting_digest ON conversation_participants (activity_at)
              WHERE unread_count > 0 AND NOT muted`.execute(db);
}
