import { type Kysely, sql } from 'kysely';

/**
 * messages.list as a PL/pgSQL function: the same single statement per request, but its queries
 * are prepared once per database session and their plans reused. Planning the page's CTE
 * statement cost more than running it (1.6 ms to plan against 0.8 ms to execute at full size),
 * and that put even the oldest page behind the plan's trivial `OFFSET 0` query.
 *
 * Outcomes: ok (with the page's rows; a visible conversation with no rows answers one row with a
 * null id) | not_found | bad_anchor. `fetched` is how many rows the page read (limit + 1 means
 * more exist); the rows returned stop at `p_limit` and before their JSON content passes
 * `p_byte_budget` (the first row always comes: the Data API refuses responses over 1 MiB).
 */
const statements = [
  sql`CREATE FUNCTION messages_list(p_conversation uuid, p_caller uuid, p_caller_is_admin boolean, p_anchor uuid,
  p_forward boolean, p_limit integer, p_offset integer, p_byte_budget integer)
RETURNS TABLE (outcome text, fetched integer, id uuid, conversation_id uuid, sender_id uuid, kind varchar,
  content text, client_message_id varchar, read_at timestamptz, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  anchor_seq bigint;
  returned integer;
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM conversations c
     WHERE c.id = p_conversation
       AND (p_caller_is_admin OR EXISTS (SELECT 1 FROM conversation_participants v
                                          WHERE v.conversation_id = c.id AND v.user_id = p_caller))) THEN
    RETURN QUERY SELECT 'not_found', 0, NULL::uuid, NULL::uuid, NULL::uuid, NULL::varchar, NULL::text, NULL::varchar,
                        NULL::timestamptz, NULL::timestamptz, NULL::timestamptz;
    RETURN;
  END IF;
  IF p_anchor IS NOT NULL THEN
    SELECT m.seq INTO anchor_seq FROM messages m WHERE m.id = p_anchor AND m.conversation_id = p_conversation;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'bad_anchor', 0, NULL::uuid, NULL::uuid, NULL::uuid, NULL::varchar, NULL::text, NULL::varchar,
                          NULL::timestamptz, NULL::timestamptz, NULL::timestamptz;
      RETURN;
    END IF;
  END IF;
  -- Two queries, one per direction, so each walks messages_in_order from the cursor and stops
  -- after limit + 1 rows. Rows come back oldest first either way.
  IF p_forward THEN
    RETURN QUERY
      WITH page AS (
        SELECT m.* FROM messages m
         WHERE m.conversation_id = p_conversation AND m.seq > anchor_seq
         ORDER BY m.seq ASC LIMIT p_limit + 1 OFFSET p_offset),
      ranked AS (
        SELECT page.*, row_number() OVER w AS position, sum(octet_length(to_json(page.content)::text)) OVER w AS running_bytes
          FROM page WINDOW w AS (ORDER BY page.seq ASC ROWS UNBOUNDED PRECEDING))
      SELECT 'ok', (SELECT count(*) FROM page)::integer, r.id, r.conversation_id, r.sender_id, r.kind, r.content,
             r.client_message_id, r.read_at, r.created_at, r.updated_at
        FROM ranked r WHERE r.position <= p_limit AND (r.position = 1 OR r.running_bytes <= p_byte_budget)
       ORDER BY r.seq ASC;
  ELSE
    RETURN QUERY
      WITH page AS (
        SELECT m.* FROM messages m
         WHERE m.conversation_id = p_conversation AND m.seq < coalesce(anchor_seq, 9223372036854775807)
         ORDER BY m.seq DESC LIMIT p_limit + 1 OFFSET p_offset),
      ranked AS (
        SELECT page.*, row_number() OVER w AS position, sum(octet_length(to_json(page.content)::text)) OVER w AS running_bytes
          FROM page WINDOW w AS (ORDER BY page.seq DESC ROWS UNBOUNDED PRECEDING))
      SELECT 'ok', (SELECT count(*) FROM page)::integer, r.id, r.conversation_id, r.sender_id, r.kind, r.content,
             r.client_message_id, r.read_at, r.created_at, r.updated_at
        FROM ranked r WHERE r.position <= p_limit AND (r.position = 1 OR r.running_bytes <= p_byte_budget)
       ORDER BY r.seq ASC;
  END IF;
  GET DIAGNOSTICS returned = ROW_COUNT;
  IF returned = 0 THEN
    RETURN QUERY SELECT 'ok', 0, NULL::uuid, NULL::uuid, NULL::uuid, NULL::varchar, NULL::text, NULL::varchar,
                        NULL::timestamptz, NULL::timestamptz, NULL::timestamptz;
  END IF;
END $$`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION messages_list(uuid, uuid, boolean, uuid, boolean, integer, integer, integer)`.execute(db);
}
