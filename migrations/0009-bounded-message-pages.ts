import { type Kysely, sql } from 'kysely';

/**
 * messages.page: messages_list's pages at about a third of its cost in the database (issue 12:
 * the oldest page was behind the plan's trivial `OFFSET 0` query).
 *
 * Measured inside the database at full size (a 50-message page, best of 10 rounds of 1,000 calls):
 * messages_list 150 µs, this function 55 µs, the bare page query in a function 28 µs. Where
 * messages_list's time went:
 * - the access check was `p_caller_is_admin OR EXISTS (…)`: an OR keeps the EXISTS from being a
 *   lookup by the participants' key, so PostgreSQL hashed every conversation of the caller (2,000
 *   index entries for a heavy user) to test one;
 * - the byte budget's window (a running sum of each row's JSON size, `row_number`, a count) and
 *   the final sort cost about 100 µs on their own: each layer copies the page's wide rows.
 * What is left is mostly the rows themselves: the same bare page returning only `id` runs at 1.3×
 * the transactions per second of the full 17 columns in pgbench.
 *
 * So the common page is one query: the access check and the anchor as one-time conditions, and the
 * budget as a bound that needs no window: a row's JSON-escaped content is at most six bytes for
 * each byte stored (`\u0001`) plus its two quotes, so when the bound of all the rows fetched fits
 * the budget, every row does. It fetches one row more than asked when there are more (the caller
 * drops it and knows to give a cursor). Only when that query returns nothing (not a participant,
 * a bad anchor, an empty page, or a page the bound cannot clear: messages of about 850 bytes and
 * more) does the function look at why, and cut by the exact JSON size as messages_list did.
 *
 * Rows come in the page's index order, newest first for a page before an anchor (and the newest
 * page), oldest first after an anchor or by revision: the caller reverses, where sorting in SQL
 * cost another copy of every row. A row without messages says why there are none: `ok` (an empty
 * page), `not_found` or `bad_anchor`; the rows of a page carry neither an outcome nor the
 * conversation's id, which the caller has (two fields of 17 a row: 10 % of the bare page's
 * throughput in pgbench). `fetched` is null on the common page, and on a page cut by size says how
 * many rows it read.
 *
 * A new name, not a new messages_list: a deploy runs this migration before it replaces the
 * functions, and until then they call messages_list, which keeps its order and its counts.
 * The migration after this one drops messages_list.
 */
const columns = `m.id, m.sender_id, m.kind, m.content, m.client_message_id, m.read_at, m.created_at,
           m.updated_at, m.edited_at, m.deleted_at, m.revision, m.reactions, m.attachments,
           CASE WHEN m.reply_to_id IS NOT NULL THEN (
             SELECT json_build_object('id', o.id, 'sender_id', o.sender_id, 'preview', left(o.content, 100))
               FROM messages o WHERE o.id = m.reply_to_id) END`;

const anchorSeq = `(SELECT a.seq FROM messages a WHERE a.id = p_anchor AND a.conversation_id = p_conversation)`;

/** The rows of a page in one order: before the anchor (or the newest), after it, or by revision. */
const orders = {
  revision: { where: 'm.revision > p_changed_after', order: 'm.revision ASC' },
  after: { where: `m.seq > ${anchorSeq}`, order: 'm.seq ASC' },
  before: {
    where: `m.seq < CASE WHEN p_anchor IS NULL THEN 9223372036854775807 ELSE ${anchorSeq} END`,
    order: 'm.seq DESC',
  },
} as const;
type Order = (typeof orders)[keyof typeof orders];

const isVisible = `CASE WHEN p_caller_is_admin THEN EXISTS (SELECT 1 FROM conversations c WHERE c.id = p_conversation)
              ELSE EXISTS (SELECT 1 FROM conversation_participants v
                            WHERE v.conversation_id = p_conversation AND v.user_id = p_caller) END`;

/** The common page: nothing comes back unless the caller may see it, the anchor is right and the bound fits. */
const boundedPage = ({ where, order }: Order) => `
    RETURN QUERY
      SELECT NULL::text, NULL::integer, ${columns}
        FROM messages m
       WHERE m.conversation_id = p_conversation AND ${where} AND ${isVisible}
         AND (SELECT sum(coalesce(6 * octet_length(m.content) + 2, 0) + coalesce(octet_length(m.attachments::text), 0))
                FROM (SELECT m.content, m.attachments FROM messages m
                       WHERE m.conversation_id = p_conversation AND ${where}
                       ORDER BY ${order} LIMIT p_limit + 1 OFFSET p_offset) m) <= p_byte_budget
       ORDER BY ${order} LIMIT p_limit + 1 OFFSET p_offset;`;

/** A page the bound could not clear: cut where the rows' exact JSON size passes the budget (the first row always comes). */
const exactPage = ({ where, order }: Order) => `
    RETURN QUERY
      SELECT NULL::text, r.fetched::integer, ${columns.replaceAll('m.', 'r.')}
        FROM (SELECT m.*, row_number() OVER w AS position, count(*) OVER () AS fetched,
                     sum(coalesce(octet_length(to_json(m.content)::text), 0) + coalesce(octet_length(m.attachments::text), 0))
                       OVER w AS running_bytes
                FROM (SELECT m.* FROM messages m
                       WHERE m.conversation_id = p_conversation AND ${where.replace(anchorSeq, 'anchor_seq')}
                       ORDER BY ${order} LIMIT p_limit + 1 OFFSET p_offset) m
              WINDOW w AS (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)) r
       WHERE r.position <= p_limit AND (r.position = 1 OR r.running_bytes <= p_byte_budget)
       ORDER BY r.position;`;

/** The page's query for the order asked: by revision, after the anchor, or before it (or the newest). */
const inEachOrder = (page: (order: Order) => string) => `IF p_changed_after IS NOT NULL THEN${page(orders.revision)}
  ELSIF p_forward THEN${page(orders.after)}
  ELSE${page(orders.before)}
  END IF;`;

const noRow = (outcome: string) => `RETURN QUERY SELECT '${outcome}', 0, NULL::uuid, NULL::uuid,
      NULL::varchar, NULL::text, NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
      NULL::timestamptz, NULL::bigint, NULL::jsonb, NULL::jsonb, NULL::json;`;

const statements = [
  sql`CREATE FUNCTION messages_page(p_conversation uuid, p_caller uuid, p_caller_is_admin boolean, p_anchor uuid,
  p_forward boolean, p_changed_after bigint, p_limit integer, p_offset integer, p_byte_budget integer)
RETURNS TABLE (outcome text, fetched integer, id uuid, sender_id uuid, kind varchar,
  content text, client_message_id varchar, read_at timestamptz, created_at timestamptz, updated_at timestamptz,
  edited_at timestamptz, deleted_at timestamptz, revision bigint, reactions jsonb, attachments jsonb, reply_to json)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  anchor_seq bigint;
  returned integer;
BEGIN
  ${sql.raw(inEachOrder(boundedPage))}
  IF FOUND THEN
    RETURN;
  END IF;
  IF NOT (${sql.raw(isVisible)}) THEN
    ${sql.raw(noRow('not_found'))}
    RETURN;
  END IF;
  IF p_anchor IS NOT NULL THEN
    anchor_seq := ${sql.raw(anchorSeq)};
    IF anchor_seq IS NULL THEN
      ${sql.raw(noRow('bad_anchor'))}
      RETURN;
    END IF;
  END IF;
  ${sql.raw(inEachOrder(exactPage))}
  GET DIAGNOSTICS returned = ROW_COUNT;
  IF returned = 0 THEN
    ${sql.raw(noRow('ok'))}
  END IF;
END $$`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION messages_page(uuid, uuid, boolean, uuid, boolean, bigint, integer, integer, integer)`.execute(
    db,
  );
}
