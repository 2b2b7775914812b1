import { type Kysely, sql } from 'kysely';
import { participantsAdd } from './0002-serialised-writes';
import { messagesSend } from './0003-lean-hot-paths';

/**
 * Real-time delivery: the WebSocket connection registry, and writes that return the connections
 * that must hear of them, so that pushing costs no extra round trip.
 *
 * - `connections`: one row per open WebSocket (API Gateway's connection id), the user the
 *   authorizer verified, and when API Gateway will have closed it at the latest (2 h after
 *   connecting). `$connect` inserts and `$disconnect` deletes, one statement each; a row whose
 *   `$disconnect` never came expires, and a push that meets 410 Gone deletes it.
 * - `conversation_audience(conversation, except)`: the live connections of the conversation's
 *   participants (but `except`). VOLATILE on purpose: its query takes a fresh snapshot, so called
 *   after the statement holds the conversation's lock it sees every participant change that
 *   committed before, and nobody removed before the change ever hears of it.
 * - `typing_at` on participant rows: when the participant's last typing frame went out; the
 *   typing route sends at most one per 2 s. Not indexed, so its update is HOT.
 * - `messages_send` and `participants_add` also return the audience of what they wrote.
 */
const statements = [
  sql`CREATE TABLE connections (
  connection_id varchar(128) PRIMARY KEY,
  user_id uuid NOT NULL,
  connected_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
)`,
  // Who is connected, by user: what every audience reads, without visiting the heap.
  sql`CREATE INDEX connections_by_user ON connections (user_id) INCLUDE (connection_id, expires_at)`,
  sql`ALTER TABLE conversation_participants ADD COLUMN typing_at timestamptz`,

  // PL/pgSQL, not SQL: a SQL function's body is planned again on every call from a new statement,
  // a PL/pgSQL function's plan is kept by the session (a send calls it once per statement).
  sql`CREATE FUNCTION conversation_audience(p_conversation uuid, p_except uuid) RETURNS varchar[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(k.connection_id ORDER BY k.connection_id), '{}')
            FROM conversation_participants p JOIN connections k ON k.user_id = p.user_id
           WHERE p.conversation_id = p_conversation AND p.user_id IS DISTINCT FROM p_except AND k.expires_at > now());
END $$`,

  sql`DROP FUNCTION messages_send(uuid, uuid, text, text, integer, interval)`,
  // As in 0003, plus the audience of a created message: every participant's connections, the
  // sender's other devices included, read under the conversation's lock.
  sql`CREATE FUNCTION messages_send(p_conversation uuid, p_sender uuid, p_content text,
  p_client_message_id text, p_limit integer, p_window interval)
RETURNS TABLE (outcome text, retry_after integer, message json, audience varchar[]) LANGUAGE plpgsql AS $$
DECLARE
  conv_status text;
  conv_seq bigint;
  sent messages;
  wait integer;
BEGIN
  SELECT c.status, c.last_message_seq INTO conv_status, conv_seq FROM conversations c WHERE c.id = p_conversation FOR NO KEY UPDATE;
  IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM conversation_participants p
                               WHERE p.conversation_id = p_conversation AND p.user_id = p_sender) THEN
    RETURN QUERY SELECT 'not_found', NULL::integer, NULL::json, NULL::varchar[];
    RETURN;
  END IF;
  IF p_client_message_id IS NOT NULL THEN
    SELECT m.* INTO sent FROM messages m
     WHERE m.conversation_id = p_conversation AND m.sender_id = p_sender AND m.client_message_id = p_client_message_id;
    IF FOUND THEN
      RETURN QUERY SELECT 'existing', NULL::integer, row_to_json(sent), NULL::varchar[];
      RETURN;
    END IF;
  END IF;
  IF conv_status <> 'active' THEN
    RETURN QUERY SELECT 'closed', NULL::integer, NULL::json, NULL::varchar[];
    RETURN;
  END IF;
  wait := take_rate_slot(p_sender, 'send_message', p_limit, p_window);
  IF wait IS NOT NULL THEN
    RETURN QUERY SELECT 'rate_limited', wait, NULL::json, NULL::varchar[];
    RETURN;
  END IF;
  -- The message first, then the counter: the counter's trigger reads the new message's sender.
  INSERT INTO messages (conversation_id, seq, sender_id, kind, content, client_message_id)
  VALUES (p_conversation, conv_seq + 1, p_sender, 'user', p_content, p_client_message_id)
  RETURNING * INTO sent;
  UPDATE conversations SET last_message_seq = sent.seq, updated_at = now() WHERE id = p_conversation;
  RETURN QUERY SELECT 'created', NULL::integer, row_to_json(sent), conversation_audience(p_conversation, NULL);
END $$`,

  sql`DROP FUNCTION participants_add(uuid, uuid, boolean, uuid, integer, integer, interval)`,
  // As in 0002, plus the audience of an added participant: everyone in the conversation now,
  // the new participant included.
  sql`CREATE FUNCTION participants_add(p_conversation uuid, p_caller uuid, p_caller_is_admin boolean,
  p_user uuid, p_max integer, p_limit integer, p_window interval)
RETURNS TABLE (outcome text, retry_after integer, participant json, audience varchar[]) LANGUAGE plpgsql AS $$
DECLARE
  target_role text;
  joined conversation_participants;
  wait integer;
BEGIN
  PERFORM 1 FROM conversations c WHERE c.id = p_conversation FOR NO KEY UPDATE;
  IF NOT FOUND OR NOT (p_caller_is_admin OR EXISTS (
       SELECT 1 FROM conversation_participants p WHERE p.conversation_id = p_conversation AND p.user_id = p_caller)) THEN
    RETURN QUERY SELECT 'not_found', NULL::integer, NULL::json, NULL::varchar[];
    RETURN;
  END IF;
  SELECT u.role INTO target_role FROM users u WHERE u.id = p_user;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown_user', NULL::integer, NULL::json, NULL::varchar[];
    RETURN;
  END IF;
  SELECT p.* INTO joined FROM conversation_participants p WHERE p.conversation_id = p_conversation AND p.user_id = p_user;
  IF FOUND THEN
    RETURN QUERY SELECT 'present', NULL::integer, row_to_json(joined), NULL::varchar[];
    RETURN;
  END IF;
  IF (SELECT count(*) FROM conversation_participants p WHERE p.conversation_id = p_conversation) >= p_max THEN
    RETURN QUERY SELECT 'full', NULL::integer, NULL::json, NULL::varchar[];
    RETURN;
  END IF;
  wait := take_rate_slot(p_caller, 'add_participant', p_limit, p_window);
  IF wait IS NOT NULL THEN
    RETURN QUERY SELECT 'rate_limited', wait, NULL::json, NULL::varchar[];
    RETURN;
  END IF;
  INSERT INTO conversation_participants (conversation_id, user_id, role)
  VALUES (p_conversation, p_user, target_role)
  RETURNING * INTO joined;
  UPDATE conversations SET updated_at = now() WHERE id = p_conversation;
  RETURN QUERY SELECT 'added', NULL::integer, row_to_json(joined), conversation_audience(p_conversation, NULL);
END $$`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of [
    sql`DROP FUNCTION participants_add(uuid, uuid, boolean, uuid, integer, integer, interval)`,
    participantsAdd,
    sql`DROP FUNCTION messages_send(uuid, uuid, text, text, integer, interval)`,
    messagesSend,
    sql`DROP FUNCTION conversation_audience(uuid, uuid)`,
    sql`ALTER TABLE conversation_participants DROP COLUMN typing_at`,
    sql`DROP TABLE connections`,
  ]) {
    await statement.execute(db);
  }
}
