import { type Kysely, sql } from 'kysely';

/**
 * A conversation's largest message bound (issue 12: the oldest page, still behind the plan's
 * `OFFSET 0` query after migration 0009).
 *
 * messages_page clears a page's byte budget without measuring it when the bound of the rows it
 * fetches fits: each row's JSON-escaped content is at most 6 bytes per stored byte plus its
 * quotes, and its attachments as stored (`message_bound`). 0009 summed that bound over a second
 * scan of the page's rows. Now the conversation row keeps the largest bound of any message it has
 * had (`largest_message_bound`), so a page whose rows could not pass the budget even if each were
 * that large is cleared by one lookup of the conversation. Measured at full size, oldest page,
 * pgbench 4 clients, five interleaved rounds of 3-second runs (means): 0009's function 15,888
 * transactions per second, this one 17,578, the plan's `OFFSET 0` query 17,662.
 *
 * Who keeps it: the send and the edit, in the conversation update they already make; system
 * messages (the order projection's, whichever version of its code runs) by a trigger that only
 * they fire, and that writes only when the bound grows. The bound never shrinks (an edit to
 * shorter content or a deletion leaves it): an upper bound is all the page needs. NULL means not
 * known: the conversations that exist when this runs keep NULL (their pages measure their rows,
 * as in 0009) rather than a backfill that would read every message while holding the table's
 * lock; conversations created after it start at 0. The bound is bookkeeping like `revision`, so
 * touch_conversation does not count it as a change of the conversation. messages_list, kept by
 * 0009 for the deploy window, is dropped: every function calls messages_page since that deploy.
 *
 * Also: the audiences read each participant's connections with one lookup per participant.
 * Before, the join was the planner's choice, and `connections` churns
 * (every socket is a row for minutes) and starts empty: never analysed, it was estimated at 576
 * rows and hashed whole on every send (0.17 ms with 1,000 sockets connected, growing with every
 * socket in the whole service, not the conversation's); analysed, it was a lookup per
 * participant (0.02 ms). `OFFSET 0` keeps the per-participant subquery from being merged into a
 * join the planner could hash.
 */
/** One participant's live connections; `OFFSET 0` keeps it a lookup per participant, never a join to hash. */
const connectionsOfParticipant = `SELECT c.connection_id FROM connections c
                                      WHERE c.user_id = p.user_id AND c.expires_at > now() OFFSET 0`;
const bound = 'coalesce(6 * octet_length(p_content) + 2, 0) + coalesce(octet_length(p_attachments::text), 0)';
const problemColumns = `NULL::integer, NULL::json, NULL::varchar[]`;

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

/** As in 0009: nothing comes back unless the caller may see it, the anchor is right and the bound fits. */
const boundedPage = ({ where, order }: Order) => `
    RETURN QUERY
      SELECT NULL::text, NULL::integer, ${columns}
        FROM messages m
       WHERE m.conversation_id = p_conversation AND ${where} AND ${isVisible}
         -- The conversation's largest bound for every row (one lookup), else (too large, or not
         -- known) the rows' own bounds (a second scan): one-time conditions, the second run only
         -- when the first does not hold.
         AND ((SELECT (p_limit::bigint + 1) * c.largest_message_bound FROM conversations c WHERE c.id = p_conversation)
                <= p_byte_budget
              OR (SELECT sum(message_bound(m.content, m.attachments))
                    FROM (SELECT m.content, m.attachments FROM messages m
                           WHERE m.conversation_id = p_conversation AND ${where}
                           ORDER BY ${order} LIMIT p_limit + 1 OFFSET p_offset) m) <= p_byte_budget)
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
  sql`CREATE FUNCTION message_bound(p_content text, p_attachments jsonb) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT ${sql.raw(bound)} $$`,
  // A kept bound raised to cover one more message; NULL (not known) stays NULL, which greatest()
  // alone would not keep.
  sql`CREATE FUNCTION raised_message_bound(p_kept bigint, p_content text, p_attachments jsonb) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_kept IS NULL THEN NULL ELSE greatest(p_kept, message_bound(p_content, p_attachments)) END $$`,
  // Existing rows NULL (not known), new ones 0: both steps change only the catalog.
  sql`ALTER TABLE conversations ADD COLUMN largest_message_bound bigint`,
  sql`ALTER TABLE conversations ALTER COLUMN largest_message_bound SET DEFAULT 0`,
  sql`CREATE OR REPLACE FUNCTION touch_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  probe conversations;
BEGIN
  probe := NEW;
  probe.revision := OLD.revision;
  probe.largest_message_bound := OLD.largest_message_bound;
  IF probe IS DISTINCT FROM OLD THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$`,
  // System messages, whoever inserts them; a user's send keeps the bound in its own update.
  sql`CREATE FUNCTION keep_system_message_bound() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversations c SET largest_message_bound = message_bound(NEW.content, NEW.attachments)
   WHERE c.id = NEW.conversation_id AND c.largest_message_bound < message_bound(NEW.content, NEW.attachments);
  RETURN NULL;
END $$`,
  sql`CREATE TRIGGER messages_system_bound AFTER INSERT ON messages FOR EACH ROW
      WHEN (NEW.kind = 'system') EXECUTE FUNCTION keep_system_message_bound()`,

  // As in 0005 and 0006, with one lookup of connections per participant.
  sql`CREATE OR REPLACE FUNCTION conversation_audience(p_conversation uuid, p_except uuid) RETURNS varchar[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(k.connection_id ORDER BY k.connection_id), '{}')
            FROM conversation_participants p
           CROSS JOIN LATERAL (${sql.raw(connectionsOfParticipant)}) k
           WHERE p.conversation_id = p_conversation AND p.user_id IS DISTINCT FROM p_except);
END $$`,
  sql`CREATE OR REPLACE FUNCTION conversation_audience_by_user(p_conversation uuid) RETURNS json
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN (SELECT coalesce(json_object_agg(x.user_id, x.connections), '{}')
            FROM (SELECT p.user_id, json_agg(k.connection_id ORDER BY k.connection_id) AS connections
                    FROM conversation_participants p
                   CROSS JOIN LATERAL (${sql.raw(connectionsOfParticipant)}) k
                   WHERE p.conversation_id = p_conversation
                   GROUP BY p.user_id) x);
END $$`,

  // As in 0007, and the send keeps the conversation's bound.
  sql`CREATE OR REPLACE FUNCTION messages_send(p_conversation uuid, p_sender uuid, p_content text,
  p_client_message_id text, p_reply_to uuid, p_limit integer, p_window interval, p_attachments uuid[] DEFAULT '{}')
RETURNS TABLE (outcome text, retry_after integer, message json, audience varchar[], attachment_id uuid) LANGUAGE plpgsql AS $$
DECLARE
  conv_status text;
  conv_seq bigint;
  conv_revision bigint;
  sent messages;
  wait integer;
  problem text;
  problem_id uuid;
  listed jsonb;
BEGIN
  SELECT c.status, c.last_message_seq, c.revision INTO conv_status, conv_seq, conv_revision
    FROM conversations c WHERE c.id = p_conversation FOR NO KEY UPDATE;
  IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM conversation_participants p
                               WHERE p.conversation_id = p_conversation AND p.user_id = p_sender) THEN
    RETURN QUERY SELECT 'not_found', ${sql.raw(problemColumns)}, NULL::uuid;
    RETURN;
  END IF;
  IF p_client_message_id IS NOT NULL THEN
    SELECT m.* INTO sent FROM messages m
     WHERE m.conversation_id = p_conversation AND m.sender_id = p_sender AND m.client_message_id = p_client_message_id;
    IF FOUND THEN
      RETURN QUERY SELECT 'existing', NULL::integer, message_json(sent), NULL::varchar[], NULL::uuid;
      RETURN;
    END IF;
  END IF;
  IF p_reply_to IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM messages r WHERE r.id = p_reply_to AND r.conversation_id = p_conversation) THEN
    RETURN QUERY SELECT 'bad_reply', ${sql.raw(problemColumns)}, NULL::uuid;
    RETURN;
  END IF;
  IF conv_status <> 'active' THEN
    RETURN QUERY SELECT 'closed', ${sql.raw(problemColumns)}, NULL::uuid;
    RETURN;
  END IF;
  IF cardinality(p_attachments) > 0 THEN
    -- Only the sender's own rows of this conversation, in id order: the send and the sweep (which
    -- skips what is locked) never wait on each other in a cycle, and other sends of this
    -- conversation already wait for its lock.
    PERFORM 1 FROM attachments a
     WHERE a.id = ANY (p_attachments) AND a.conversation_id = p_conversation AND a.uploader_id = p_sender
       AND a.state <> 'deleted'
     ORDER BY a.id FOR UPDATE;
    SELECT x.problem, x.id INTO problem, problem_id FROM (
      SELECT w.id, w.i, CASE
               WHEN a.id IS NULL OR a.conversation_id <> p_conversation OR a.uploader_id <> p_sender OR a.state = 'deleted'
                 THEN 'attachment_unknown'
               WHEN a.message_id IS NOT NULL THEN 'attachment_used'
               WHEN a.state = 'pending' THEN 'attachment_pending'
               WHEN a.state = 'rejected' THEN 'attachment_rejected' END AS problem
        FROM unnest(p_attachments) WITH ORDINALITY AS w(id, i) LEFT JOIN attachments a ON a.id = w.id) x
     WHERE x.problem IS NOT NULL ORDER BY x.i LIMIT 1;
    IF FOUND THEN
      RETURN QUERY SELECT problem, ${sql.raw(problemColumns)}, problem_id;
      RETURN;
    END IF;
    listed := (SELECT jsonb_agg(jsonb_build_object('id', a.id, 'filename', a.filename, 'content_type', a.content_type,
                                                   'size', a.size) ORDER BY w.i)
                 FROM unnest(p_attachments) WITH ORDINALITY AS w(id, i) JOIN attachments a ON a.id = w.id);
  END IF;
  wait := take_rate_slot(p_sender, 'send_message', p_limit, p_window);
  IF wait IS NOT NULL THEN
    RETURN QUERY SELECT 'rate_limited', wait, NULL::json, NULL::varchar[], NULL::uuid;
    RETURN;
  END IF;
  INSERT INTO messages (conversation_id, seq, sender_id, kind, content, client_message_id, reply_to_id, revision, attachments)
  VALUES (p_conversation, conv_seq + 1, p_sender, 'user', p_content, p_client_message_id, p_reply_to, conv_revision + 1, listed)
  RETURNING * INTO sent;
  IF listed IS NOT NULL THEN
    UPDATE attachments SET message_id = sent.id WHERE id = ANY (p_attachments);
  END IF;
  UPDATE conversations SET last_message_seq = sent.seq, revision = sent.revision, updated_at = now(),
         largest_message_bound = raised_message_bound(largest_message_bound, sent.content, sent.attachments)
   WHERE id = p_conversation;
  RETURN QUERY SELECT 'created', NULL::integer, message_json(sent), conversation_audience(p_conversation, NULL), NULL::uuid;
END $$`,

  // As in 0006, and the edit keeps the conversation's bound.
  sql`CREATE OR REPLACE FUNCTION messages_edit(p_message uuid, p_caller uuid, p_content text)
RETURNS TABLE (outcome text, message json, audience json) LANGUAGE plpgsql AS $$
DECLARE
  conv uuid;
  conv_status text;
  conv_revision bigint;
  target messages;
BEGIN
  SELECT m.conversation_id INTO conv FROM messages m WHERE m.id = p_message;
  IF FOUND THEN
    SELECT c.status, c.revision INTO conv_status, conv_revision FROM conversations c WHERE c.id = conv FOR NO KEY UPDATE;
  END IF;
  IF conv_status IS NULL OR NOT EXISTS (
       SELECT 1 FROM conversation_participants p WHERE p.conversation_id = conv AND p.user_id = p_caller) THEN
    RETURN QUERY SELECT 'not_found', NULL::json, NULL::json;
    RETURN;
  END IF;
  SELECT m.* INTO target FROM messages m WHERE m.id = p_message;
  IF target.kind = 'system' OR target.deleted_at IS NOT NULL THEN
    RETURN QUERY SELECT CASE WHEN target.kind = 'user' AND target.sender_id <> p_caller THEN 'forbidden' ELSE 'not_editable' END,
                        NULL::json, NULL::json;
    RETURN;
  END IF;
  IF target.sender_id <> p_caller THEN
    RETURN QUERY SELECT 'forbidden', NULL::json, NULL::json;
    RETURN;
  END IF;
  IF conv_status <> 'active' THEN
    RETURN QUERY SELECT 'closed', NULL::json, NULL::json;
    RETURN;
  END IF;
  IF target.content = p_content THEN
    RETURN QUERY SELECT 'unchanged', message_json(target), NULL::json;
    RETURN;
  END IF;
  INSERT INTO message_versions (message_id, version, content, written_at)
  VALUES (p_message, (SELECT coalesce(max(v.version), 0) + 1 FROM message_versions v WHERE v.message_id = p_message),
          target.content, coalesce(target.edited_at, target.created_at));
  UPDATE messages SET content = p_content, edited_at = now(), revision = conv_revision + 1
   WHERE id = p_message RETURNING * INTO target;
  UPDATE conversations SET revision = target.revision, updated_at = now(),
         largest_message_bound = raised_message_bound(largest_message_bound, target.content, target.attachments)
   WHERE id = conv;
  RETURN QUERY SELECT 'ok', message_json(target), conversation_audience_by_user(conv);
END $$`,

  // As in 0009, with the conversation's bound before the rows' own.
  sql`CREATE OR REPLACE FUNCTION messages_page(p_conversation uuid, p_caller uuid, p_caller_is_admin boolean, p_anchor uuid,
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

  sql`DROP FUNCTION messages_list(uuid, uuid, boolean, uuid, boolean, bigint, integer, integer, integer)`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(_db: Kysely<any>): Promise<void> {
  throw new Error(
    '0010-largest-message-bound has no down migration: it replaces functions of 0005, 0006, 0007 and 0009 and drops messages_list. Restore a snapshot instead.',
  );
}
