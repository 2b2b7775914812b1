import { type Kysely, sql } from 'kysely';

/**
 * Attachments: files uploaded straight to S3 with a presigned PUT, checked by a function on the
 * bucket's ObjectCreated event, and sent in a message.
 *
 * - `attachments`: one row per upload the API started. `state` is `pending` (presigned, nothing
 *   checked yet), `ready` (the check found the bytes are what was declared), `rejected` (they were
 *   not; the object is deleted; never ready again, so a late check cannot revive it) or `deleted` (its message was deleted, or it was never sent: the sweep deletes the
 *   object, then the row). `message_id` is set once, by the send that uses it.
 *   No foreign key to the conversation: a conversation deleted with its order leaves its rows
 *   unattached, so the sweep still finds their objects (a cascade would forget them).
 * - Messages carry their attachments' summary (`attachments`: `[{id, filename, content_type,
 *   size}]` in the order sent), written once by the send, like reactions: every read that returns
 *   a message already reads its row, so attachments cost pages no join.
 * - A message has content, attachments, or both; a tombstone has neither.
 * - `messages_send` takes the attachment ids (last, with a default, so the previous function's
 *   calls keep working while a deploy is between the migration and the new functions) and checks
 *   them after the conversation's lock: each must be the sender's, of this conversation, ready
 *   and unused. The rows are locked, so a send and the sweep never both take one.
 * - `messages_delete` also marks the message's attachments deleted and returns them, so the
 *   request deletes the objects right after (and the sweep again, should that fail).
 * - `messages_list` returns `attachments` too; its three orders are one template here.
 */
const problemColumns = `NULL::integer, NULL::json, NULL::varchar[]`;

/** One order of messages_list: the rows after or before the anchor (or by revision), oldest first. */
const pageQuery = (where: string, order: string) => `
    RETURN QUERY
      WITH page AS (
        SELECT m.* FROM messages m
         WHERE m.conversation_id = p_conversation AND ${where}
         ORDER BY ${order} LIMIT p_limit + 1 OFFSET p_offset),
      ranked AS (
        SELECT page.*, row_number() OVER w AS position,
               sum(coalesce(octet_length(to_json(page.content)::text), 0) + coalesce(octet_length(page.attachments::text), 0))
                 OVER w AS running_bytes
          FROM page WINDOW w AS (ORDER BY ${order.replaceAll('m.', 'page.')} ROWS UNBOUNDED PRECEDING))
      SELECT 'ok', (SELECT count(*) FROM page)::integer, r.id, r.conversation_id, r.sender_id, r.kind, r.content,
             r.client_message_id, r.read_at, r.created_at, r.updated_at, r.edited_at, r.deleted_at, r.revision, r.reactions,
             r.attachments,
             CASE WHEN r.reply_to_id IS NOT NULL THEN (
               SELECT json_build_object('id', o.id, 'sender_id', o.sender_id, 'preview', left(o.content, 100))
                 FROM messages o WHERE o.id = r.reply_to_id) END
        FROM ranked r WHERE r.position <= p_limit AND (r.position = 1 OR r.running_bytes <= p_byte_budget)
       ORDER BY ${order.includes('revision') ? 'r.revision' : 'r.seq'} ASC;`;

const emptyPageRow = (outcome: string) => `RETURN QUERY SELECT '${outcome}', 0, NULL::uuid, NULL::uuid, NULL::uuid,
      NULL::varchar, NULL::text, NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
      NULL::timestamptz, NULL::bigint, NULL::jsonb, NULL::jsonb, NULL::json;`;

const statements = [
  sql`ALTER TABLE messages ADD COLUMN attachments jsonb`,
  sql`ALTER TABLE messages DROP CONSTRAINT tombstones_have_no_content`,
  // NOT VALID, then validated: checking every row takes a lock that lets writes go on, where
  // adding it checked would hold the table's strongest lock through the whole scan.
  sql`ALTER TABLE messages ADD CONSTRAINT messages_have_content_until_deleted CHECK (CASE WHEN deleted_at IS NULL
    THEN content IS NOT NULL OR attachments IS NOT NULL ELSE content IS NULL AND attachments IS NULL END) NOT VALID`,
  sql`ALTER TABLE messages VALIDATE CONSTRAINT messages_have_content_until_deleted`,
  // An attachment-only message edited to have text keeps its earlier (absent) content as a version.
  sql`ALTER TABLE message_versions ALTER COLUMN content DROP NOT NULL`,
  sql`ALTER TABLE rate_limits DROP CONSTRAINT rate_limits_action_check`,
  sql`ALTER TABLE rate_limits ADD CONSTRAINT rate_limits_action_check
    CHECK (action IN ('send_message', 'create_conversation', 'add_participant', 'create_attachment'))`,

  sql`CREATE TABLE attachments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL,
  uploader_id uuid NOT NULL,
  filename varchar(255) NOT NULL CHECK (char_length(filename) >= 1),
  content_type varchar(127) NOT NULL,
  size bigint NOT NULL CHECK (size > 0),
  state varchar(10) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready', 'rejected', 'deleted')),
  message_id uuid REFERENCES messages(id) ON DELETE SET NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  checked_at timestamptz(3),
  rejection varchar(200)
)`,
  // What the sweep looks for: rows never sent (oldest first) and rows whose message was deleted.
  sql`CREATE INDEX attachments_to_sweep ON attachments (created_at) WHERE message_id IS NULL OR state = 'deleted'`,
  sql`CREATE INDEX attachments_by_message ON attachments (message_id) WHERE message_id IS NOT NULL`,

  sql`CREATE OR REPLACE FUNCTION message_json(m messages, p_preview integer DEFAULT NULL) RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN json_build_object(
    'id', m.id, 'conversation_id', m.conversation_id, 'sender_id', m.sender_id, 'kind', m.kind,
    'content', CASE WHEN p_preview IS NULL THEN m.content ELSE left(m.content, p_preview) END,
    'client_message_id', m.client_message_id, 'read_at', m.read_at, 'created_at', m.created_at,
    'updated_at', m.updated_at, 'edited_at', m.edited_at, 'deleted_at', m.deleted_at, 'revision', m.revision,
    'reactions', m.reactions, 'attachments', m.attachments,
    'reply_to', CASE WHEN m.reply_to_id IS NOT NULL THEN (
      SELECT json_build_object('id', r.id, 'sender_id', r.sender_id, 'preview', left(r.content, 100))
        FROM messages r WHERE r.id = m.reply_to_id) END);
END $$`,

  // attachments.create: the row of an upload already presigned under p_id. Outcomes created |
  // not_found (or not a participant) | closed | rate_limited.
  sql`CREATE FUNCTION attachments_create(p_id uuid, p_conversation uuid, p_caller uuid, p_filename text,
  p_content_type text, p_size bigint, p_limit integer, p_window interval)
RETURNS TABLE (outcome text, retry_after integer) LANGUAGE plpgsql AS $$
DECLARE
  conv_status text;
  wait integer;
BEGIN
  SELECT c.status INTO conv_status FROM conversations c
   WHERE c.id = p_conversation
     AND EXISTS (SELECT 1 FROM conversation_participants p WHERE p.conversation_id = c.id AND p.user_id = p_caller);
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found', NULL::integer;
    RETURN;
  END IF;
  IF conv_status <> 'active' THEN
    RETURN QUERY SELECT 'closed', NULL::integer;
    RETURN;
  END IF;
  wait := take_rate_slot(p_caller, 'create_attachment', p_limit, p_window);
  IF wait IS NOT NULL THEN
    RETURN QUERY SELECT 'rate_limited', wait;
    RETURN;
  END IF;
  INSERT INTO attachments (id, conversation_id, uploader_id, filename, content_type, size)
  VALUES (p_id, p_conversation, p_caller, p_filename, p_content_type, p_size);
  RETURN QUERY SELECT 'created', NULL::integer;
END $$`,

  sql`DROP FUNCTION messages_send(uuid, uuid, text, text, uuid, integer, interval)`,
  // As in 0006, plus attachments. Outcomes as before, and attachment_unknown (not the sender's
  // upload to this conversation, or swept) | attachment_pending | attachment_rejected |
  // attachment_used, naming the first such id.
  sql`CREATE FUNCTION messages_send(p_conversation uuid, p_sender uuid, p_content text,
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
  UPDATE conversations SET last_message_seq = sent.seq, revision = sent.revision, updated_at = now() WHERE id = p_conversation;
  RETURN QUERY SELECT 'created', NULL::integer, message_json(sent), conversation_audience(p_conversation, NULL), NULL::uuid;
END $$`,

  sql`DROP FUNCTION messages_delete(uuid, uuid, boolean)`,
  // As in 0006; the tombstone loses its attachments, their rows are marked deleted and returned
  // ({id, conversation_id}) for the request to delete their objects.
  sql`CREATE FUNCTION messages_delete(p_message uuid, p_caller uuid, p_caller_is_admin boolean)
RETURNS TABLE (outcome text, message json, audience varchar[], removed json) LANGUAGE plpgsql AS $$
DECLARE
  conv uuid;
  conv_revision bigint;
  target messages;
  gone json;
BEGIN
  SELECT m.conversation_id INTO conv FROM messages m WHERE m.id = p_message;
  IF FOUND THEN
    SELECT c.revision INTO conv_revision FROM conversations c WHERE c.id = conv FOR NO KEY UPDATE;
  END IF;
  IF conv_revision IS NULL OR NOT (p_caller_is_admin OR EXISTS (
       SELECT 1 FROM conversation_participants p WHERE p.conversation_id = conv AND p.user_id = p_caller)) THEN
    RETURN QUERY SELECT 'not_found', NULL::json, NULL::varchar[], NULL::json;
    RETURN;
  END IF;
  SELECT m.* INTO target FROM messages m WHERE m.id = p_message;
  IF target.sender_id IS DISTINCT FROM p_caller AND NOT p_caller_is_admin THEN
    RETURN QUERY SELECT 'forbidden', NULL::json, NULL::varchar[], NULL::json;
    RETURN;
  END IF;
  IF target.deleted_at IS NOT NULL THEN
    RETURN QUERY SELECT 'already', message_json(target), NULL::varchar[], NULL::json;
    RETURN;
  END IF;
  INSERT INTO message_versions (message_id, version, content, written_at)
  VALUES (p_message, (SELECT coalesce(max(v.version), 0) + 1 FROM message_versions v WHERE v.message_id = p_message),
          target.content, coalesce(target.edited_at, target.created_at));
  UPDATE conversation_participants p SET unread_count = p.unread_count - 1
   WHERE p.conversation_id = conv AND p.user_id IS DISTINCT FROM target.sender_id AND p.last_read_seq < target.seq;
  IF target.attachments IS NOT NULL THEN
    WITH marked AS (UPDATE attachments a SET state = 'deleted' WHERE a.message_id = p_message
                    RETURNING a.id, a.conversation_id)
    SELECT json_agg(json_build_object('id', marked.id, 'conversation_id', marked.conversation_id)) INTO gone FROM marked;
  END IF;
  UPDATE messages SET content = NULL, attachments = NULL, deleted_at = now(), reactions = NULL, revision = conv_revision + 1
   WHERE id = p_message RETURNING * INTO target;
  UPDATE conversations SET revision = target.revision, updated_at = now() WHERE id = conv;
  RETURN QUERY SELECT 'ok', message_json(target), conversation_audience(conv, NULL), coalesce(gone, '[]'::json);
END $$`,

  sql`DROP FUNCTION messages_list(uuid, uuid, boolean, uuid, boolean, bigint, integer, integer, integer)`,
  // As in 0006, with attachments (counted in the page's byte budget).
  sql`CREATE FUNCTION messages_list(p_conversation uuid, p_caller uuid, p_caller_is_admin boolean, p_anchor uuid,
  p_forward boolean, p_changed_after bigint, p_limit integer, p_offset integer, p_byte_budget integer)
RETURNS TABLE (outcome text, fetched integer, id uuid, conversation_id uuid, sender_id uuid, kind varchar,
  content text, client_message_id varchar, read_at timestamptz, created_at timestamptz, updated_at timestamptz,
  edited_at timestamptz, deleted_at timestamptz, revision bigint, reactions jsonb, attachments jsonb, reply_to json)
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
    ${sql.raw(emptyPageRow('not_found'))}
    RETURN;
  END IF;
  IF p_anchor IS NOT NULL THEN
    SELECT m.seq INTO anchor_seq FROM messages m WHERE m.id = p_anchor AND m.conversation_id = p_conversation;
    IF NOT FOUND THEN
      ${sql.raw(emptyPageRow('bad_anchor'))}
      RETURN;
    END IF;
  END IF;
  IF p_changed_after IS NOT NULL THEN
    ${sql.raw(pageQuery('m.revision > p_changed_after', 'm.revision ASC'))}
  ELSIF p_forward THEN
    ${sql.raw(pageQuery('m.seq > anchor_seq', 'm.seq ASC'))}
  ELSE
    ${sql.raw(pageQuery('m.seq < coalesce(anchor_seq, 9223372036854775807)', 'm.seq DESC'))}
  END IF;
  GET DIAGNOSTICS returned = ROW_COUNT;
  IF returned = 0 THEN
    ${sql.raw(emptyPageRow('ok'))}
  END IF;
END $$`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(_db: Kysely<any>): Promise<void> {
  throw new Error(
    '0007-attachments has no down migration: it would forget which objects in the bucket belong to which message. Restore a snapshot instead.',
  );
}
