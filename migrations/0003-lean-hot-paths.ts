import { type Kysely, sql } from 'kysely';

/**
 * The hot paths at the database's limit (issue 12). Measured first (in the benchmark of that
 * day; BENCHMARKS.md no longer has that section): a send rewrote every participant row twice for the sender and wrote index
 * entries for indexes no read uses, and the unread total read every participant row of the user.
 *
 * - A send's fan-out is one UPDATE of each participant row: the activity trigger adds exactly one
 *   to others' unread counts when one message arrived (no count over messages), and moves the
 *   sender's read mark in the same pass (a user message is only ever written by messages_send,
 *   and sending reads the conversation up to one's own message). messages_send no longer updates
 *   the sender's row a second time.
 * - Participant rows are keyed by (conversation_id, user_id): the surrogate `id` index was one
 *   more index entry on every non-HOT participant update (every send rewrites activity_at, which
 *   the inbox index holds), and nothing looks a participant up by id.
 * - messages: the client-id index covers only messages that carry a client id (most do not), and
 *   the sender/time index, which served no endpoint, is gone: two index entries per message
 *   instead of four.
 * - The unread total reads a partial index of the rows with something unread: its cost follows
 *   the conversations the user has not read, not all the conversations they are in.
 * - take_rate_slot reads the user's row once under its lock and writes it only when it grants
 *   (the upsert it replaces unnested the array twice and took a third pass to refuse). The log stays
 *   an exact sliding window: deciding "at most N in any window" exactly needs the last N admission
 *   times, so the row holds at most `limit` timestamps (20 by default, 168 bytes, in line).
 */
/** Exported for migration 0005's down, which restores it. */
export const messagesSend = sql`CREATE OR REPLACE FUNCTION messages_send(p_conversation uuid, p_sender uuid, p_content text,
  p_client_message_id text, p_limit integer, p_window interval)
RETURNS TABLE (outcome text, retry_after integer, message json) LANGUAGE plpgsql AS $$
DECLARE
  conv_status text;
  conv_seq bigint;
  sent messages;
  wait integer;
BEGIN
  SELECT c.status, c.last_message_seq INTO conv_status, conv_seq FROM conversations c WHERE c.id = p_conversation FOR NO KEY UPDATE;
  IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM conversation_participants p
                               WHERE p.conversation_id = p_conversation AND p.user_id = p_sender) THEN
    RETURN QUERY SELECT 'not_found', NULL::integer, NULL::json;
    RETURN;
  END IF;
  IF p_client_message_id IS NOT NULL THEN
    SELECT m.* INTO sent FROM messages m
     WHERE m.conversation_id = p_conversation AND m.sender_id = p_sender AND m.client_message_id = p_client_message_id;
    IF FOUND THEN
      RETURN QUERY SELECT 'existing', NULL::integer, row_to_json(sent);
      RETURN;
    END IF;
  END IF;
  IF conv_status <> 'active' THEN
    RETURN QUERY SELECT 'closed', NULL::integer, NULL::json;
    RETURN;
  END IF;
  wait := take_rate_slot(p_sender, 'send_message', p_limit, p_window);
  IF wait IS NOT NULL THEN
    RETURN QUERY SELECT 'rate_limited', wait, NULL::json;
    RETURN;
  END IF;
  -- The message first, then the counter: the counter's trigger reads the new message's sender.
  INSERT INTO messages (conversation_id, seq, sender_id, kind, content, client_message_id)
  VALUES (p_conversation, conv_seq + 1, p_sender, 'user', p_content, p_client_message_id)
  RETURNING * INTO sent;
  UPDATE conversations SET last_message_seq = sent.seq, updated_at = now() WHERE id = p_conversation;
  RETURN QUERY SELECT 'created', NULL::integer, row_to_json(sent);
END $$`;

const statements = [
  sql`DROP INDEX messages_by_sender_time`,
  sql`CREATE UNIQUE INDEX messages_client_id_given ON messages (conversation_id, sender_id, client_message_id)
  WHERE client_message_id IS NOT NULL`,
  sql`DROP INDEX messages_client_id`,

  sql`ALTER TABLE conversation_participants DROP CONSTRAINT conversation_participants_pkey`,
  sql`ALTER TABLE conversation_participants ADD CONSTRAINT conversation_participants_pkey PRIMARY KEY (conversation_id, user_id)`,
  sql`ALTER TABLE conversation_participants DROP CONSTRAINT conversation_participants_conversation_id_user_id_key`,
  // The unread total: only rows with something unread, the unread count read from the index.
  sql`CREATE INDEX participants_unread ON conversation_participants (user_id) INCLUDE (unread_count) WHERE unread_count > 0`,

  sql`CREATE OR REPLACE FUNCTION count_unread_on_join() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversation_participants p
     SET unread_count = (
       SELECT count(*) FROM messages m
        WHERE m.conversation_id = NEW.conversation_id AND m.seq > NEW.last_read_seq
          AND m.sender_id IS DISTINCT FROM NEW.user_id)
   WHERE p.conversation_id = NEW.conversation_id AND p.user_id = NEW.user_id;
  RETURN NULL;
END $$`,

  // One message arrived (a send or an order status message): each participant row is written
  // once, others' counts grow by one, and the sender's read mark moves to their message. Several
  // at once, or an activity change alone, keep the general count.
  sql`CREATE OR REPLACE FUNCTION mirror_conversation_activity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sender uuid;
BEGIN
  IF NEW.last_message_seq = OLD.last_message_seq + 1 THEN
    SELECT m.sender_id INTO sender FROM messages m WHERE m.conversation_id = NEW.id AND m.seq = NEW.last_message_seq;
    IF FOUND THEN
      UPDATE conversation_participants p
         SET activity_at = NEW.updated_at,
             unread_count = CASE WHEN p.user_id = sender THEN 0 ELSE p.unread_count + 1 END,
             last_read_seq = CASE WHEN p.user_id = sender THEN NEW.last_message_seq ELSE p.last_read_seq END,
             last_read_at = CASE WHEN p.user_id = sender THEN now() ELSE p.last_read_at END
       WHERE p.conversation_id = NEW.id;
      RETURN NULL;
    END IF;
  END IF;
  UPDATE conversation_participants p
     SET activity_at = NEW.updated_at,
         unread_count = p.unread_count + CASE
           WHEN NEW.last_message_seq > OLD.last_message_seq THEN (
             SELECT count(*) FROM messages m
              WHERE m.conversation_id = NEW.id
                AND m.seq > greatest(OLD.last_message_seq, p.last_read_seq) AND m.seq <= NEW.last_message_seq
                AND m.sender_id IS DISTINCT FROM p.user_id)
           ELSE 0 END
   WHERE p.conversation_id = NEW.id;
  RETURN NULL;
END $$`,

  // Granted: NULL, and the admission time appended to the log (times that left the window
  // dropped). Refused: the whole seconds until the oldest admission in the window leaves it, and
  // nothing written. The row lock serialises one user's callers; the first action inserts the row
  // (a concurrent first action waits for it and then reads it).
  sql`CREATE OR REPLACE FUNCTION take_rate_slot(p_user uuid, p_action text, p_limit integer, p_window interval)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  log timestamptz(3)[];
  kept timestamptz(3)[];
BEGIN
  SELECT r.recent INTO log FROM rate_limits r WHERE r.user_id = p_user AND r.action = p_action FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    INSERT INTO rate_limits (user_id, action, recent) VALUES (p_user, p_action, ARRAY[now()]::timestamptz(3)[])
    ON CONFLICT (user_id, action) DO NOTHING;
    IF FOUND THEN
      RETURN NULL;
    END IF;
    SELECT r.recent INTO log FROM rate_limits r WHERE r.user_id = p_user AND r.action = p_action FOR NO KEY UPDATE;
  END IF;
  kept := array(SELECT t FROM unnest(log) AS t WHERE t > now() - p_window);
  IF cardinality(kept) >= p_limit THEN
    RETURN (SELECT greatest(1, ceil(extract(epoch FROM min(t) + p_window - now())))::integer FROM unnest(kept) AS t);
  END IF;
  UPDATE rate_limits r SET recent = kept || now()::timestamptz(3) WHERE r.user_id = p_user AND r.action = p_action;
  RETURN NULL;
END $$`,

  // As in 0002, except that the conversation's update carries the activity time itself and the
  // activity trigger moves the sender's read mark in its single pass over the participants.
  messagesSend,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

/**
 * Back to 0002's indexes and keys. The functions stay as 0003 wrote them: they are correct on
 * either set of indexes (they name columns, never the indexes or the surrogate key).
 */
export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of [
    sql`DROP INDEX participants_unread`,
    sql`ALTER TABLE conversation_participants ADD CONSTRAINT conversation_participants_conversation_id_user_id_key UNIQUE (conversation_id, user_id)`,
    sql`ALTER TABLE conversation_participants DROP CONSTRAINT conversation_participants_pkey`,
    sql`ALTER TABLE conversation_participants ADD CONSTRAINT conversation_participants_pkey PRIMARY KEY (id)`,
    sql`CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, sender_id, client_message_id)`,
    sql`DROP INDEX messages_client_id_given`,
    sql`CREATE INDEX messages_by_sender_time ON messages (sender_id, created_at) WHERE sender_id IS NOT NULL`,
  ]) {
    await statement.execute(db);
  }
}
