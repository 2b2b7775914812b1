import { type Kysely, sql } from 'kysely';

/**
 * Writes that must decide after they hold the conversation's lock.
 *
 * A single SQL statement reads everything from one snapshot, taken when the statement starts.
 * Under READ COMMITTED, a statement that waits for a row lock gets the newest version of that row
 * but nothing else that committed while it waited: a send that queued behind an identical retry
 * still saw no earlier message, and an add that queued behind 49 others still counted one
 * participant. A PL/pgSQL function keeps the request at one statement (one Data API call) while
 * each statement inside it takes a fresh snapshot, so every check that follows the lock sees all
 * that committed before it.
 *
 * Lock order, as everywhere: the conversation row (FOR NO KEY UPDATE, which is what an UPDATE of
 * it takes, so FK checks of concurrent inserts are not blocked), then the caller's rate row, then
 * participant rows (the activity trigger).
 *
 * The rate limiter generalises `send_rate` to one row per user and action, so creating
 * conversations and adding people have limits of their own.
 */
/** Exported for migration 0005's down, which restores it. */
export const participantsAdd = sql`CREATE FUNCTION participants_add(p_conversation uuid, p_caller uuid, p_caller_is_admin boolean,
  p_user uuid, p_max integer, p_limit integer, p_window interval)
RETURNS TABLE (outcome text, retry_after integer, participant json) LANGUAGE plpgsql AS $$
DECLARE
  target_role text;
  joined conversation_participants;
  wait integer;
BEGIN
  PERFORM 1 FROM conversations c WHERE c.id = p_conversation FOR NO KEY UPDATE;
  IF NOT FOUND OR NOT (p_caller_is_admin OR EXISTS (
       SELECT 1 FROM conversation_participants p WHERE p.conversation_id = p_conversation AND p.user_id = p_caller)) THEN
    RETURN QUERY SELECT 'not_found', NULL::integer, NULL::json;
    RETURN;
  END IF;
  SELECT u.role INTO target_role FROM users u WHERE u.id = p_user;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown_user', NULL::integer, NULL::json;
    RETURN;
  END IF;
  SELECT p.* INTO joined FROM conversation_participants p WHERE p.conversation_id = p_conversation AND p.user_id = p_user;
  IF FOUND THEN
    RETURN QUERY SELECT 'present', NULL::integer, row_to_json(joined);
    RETURN;
  END IF;
  IF (SELECT count(*) FROM conversation_participants p WHERE p.conversation_id = p_conversation) >= p_max THEN
    RETURN QUERY SELECT 'full', NULL::integer, NULL::json;
    RETURN;
  END IF;
  wait := take_rate_slot(p_caller, 'add_participant', p_limit, p_window);
  IF wait IS NOT NULL THEN
    RETURN QUERY SELECT 'rate_limited', wait, NULL::json;
    RETURN;
  END IF;
  INSERT INTO conversation_participants (conversation_id, user_id, role)
  VALUES (p_conversation, p_user, target_role)
  RETURNING * INTO joined;
  UPDATE conversations SET updated_at = now() WHERE id = p_conversation;
  RETURN QUERY SELECT 'added', NULL::integer, row_to_json(joined);
END $$`;

const statements = [
  sql`CREATE TABLE rate_limits (
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  action varchar(30) NOT NULL CHECK (action IN ('send_message', 'create_conversation', 'add_participant')),
  recent timestamptz(3)[] NOT NULL,
  PRIMARY KEY (user_id, action)
)`,
  // send_rate stays until a later migration drops it: during a deploy the data stack (and this
  // migration) goes first, and the previous send function keeps running on it until the HTTP API
  // stack is updated.
  sql`INSERT INTO rate_limits (user_id, action, recent) SELECT user_id, 'send_message', recent FROM send_rate`,

  // Takes one slot of a sliding window: at most p_limit actions in any p_window. Granted: NULL.
  // Refused: the whole seconds until the oldest action in the window leaves it. The upsert's WHERE
  // sees the newest row under its lock, so concurrent callers cannot slip past the limit.
  sql`CREATE FUNCTION take_rate_slot(p_user uuid, p_action text, p_limit integer, p_window interval)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  granted boolean;
BEGIN
  INSERT INTO rate_limits AS r (user_id, action, recent) VALUES (p_user, p_action, ARRAY[now()]::timestamptz(3)[])
  ON CONFLICT (user_id, action) DO UPDATE
     SET recent = array(SELECT t FROM unnest(r.recent) AS t WHERE t > now() - p_window) || now()::timestamptz(3)
   WHERE (SELECT count(*) FROM unnest(r.recent) AS t WHERE t > now() - p_window) < p_limit
  RETURNING true INTO granted;
  IF granted THEN
    RETURN NULL;
  END IF;
  RETURN (SELECT greatest(1, ceil(extract(epoch FROM min(t) + p_window - now())))::integer
            FROM rate_limits r, unnest(r.recent) AS t
           WHERE r.user_id = p_user AND r.action = p_action AND t > now() - p_window);
END $$`,

  // messages.send: membership, an earlier message with this clientMessageId (a retry returns it and
  // consumes nothing), the conversation being active, the rate limit, then the message with the
  // next seq, the conversation's counter (whose trigger counts it as unread for the others) and
  // the sender's read mark. Outcomes: created | existing | not_found | closed | rate_limited.
  sql`CREATE FUNCTION messages_send(p_conversation uuid, p_sender uuid, p_content text,
  p_client_message_id text, p_limit integer, p_window interval)
RETURNS TABLE (outcome text, retry_after integer, message json) LANGUAGE plpgsql AS $$
DECLARE
  conv conversations;
  sent messages;
  wait integer;
BEGIN
  SELECT * INTO conv FROM conversations c WHERE c.id = p_conversation FOR NO KEY UPDATE;
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
  IF conv.status <> 'active' THEN
    RETURN QUERY SELECT 'closed', NULL::integer, NULL::json;
    RETURN;
  END IF;
  wait := take_rate_slot(p_sender, 'send_message', p_limit, p_window);
  IF wait IS NOT NULL THEN
    RETURN QUERY SELECT 'rate_limited', wait, NULL::json;
    RETURN;
  END IF;
  -- The message first, then the counter: the counter's trigger counts the new message as unread
  -- for everyone but the sender, so it must already exist.
  INSERT INTO messages (conversation_id, seq, sender_id, kind, content, client_message_id)
  VALUES (p_conversation, conv.last_message_seq + 1, p_sender, 'user', p_content, p_client_message_id)
  RETURNING * INTO sent;
  UPDATE conversations SET last_message_seq = sent.seq WHERE id = p_conversation;
  -- Sending reads the conversation up to one's own message: nothing newer exists under the lock.
  UPDATE conversation_participants p
     SET last_read_seq = greatest(p.last_read_seq, sent.seq), last_read_at = now(), unread_count = 0
   WHERE p.conversation_id = p_conversation AND p.user_id = p_sender;
  RETURN QUERY SELECT 'created', NULL::integer, row_to_json(sent);
END $$`,

  // participants.add: visibility (a participant, or an admin), the user being known, already
  // present (not an error, nothing consumed), the cap, the caller's rate limit, then the row and
  // the conversation's activity. Outcomes: added | present | not_found | unknown_user | full |
  // rate_limited.
  participantsAdd,

  // Unversioned status events carry the envelope's time, which has one-second resolution, so two
  // real changes can share it. The statuses applied at the current status time are kept: an
  // equal-time event with a status not yet applied at that time is applied (arrival order), an
  // equal-time repeat of any of them is a no-op.
  sql`ALTER TABLE orders ADD COLUMN statuses_at_changed_at varchar(50)[]`,
  sql`UPDATE orders SET statuses_at_changed_at = ARRAY[status] WHERE status IS NOT NULL AND status_changed_at IS NOT NULL`,

  // An order's conversation follows the order's owner and provider (see 0001). Now it takes the
  // conversation's lock first, as every other change of participants does (a send holding it
  // updates every participant row: taking participant rows first could deadlock with it), and a
  // change of participants is activity, as it is over HTTP: the conversation's updated_at moves,
  // and with it every participant's copy.
  sql`CREATE OR REPLACE FUNCTION sync_order_participants() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  conversation uuid;
  removed integer;
  added integer;
BEGIN
  SELECT id INTO conversation FROM conversations WHERE order_id = NEW.id AND type = 'order' FOR NO KEY UPDATE;
  IF conversation IS NULL THEN
    RETURN NULL;
  END IF;
  DELETE FROM conversation_participants
   WHERE conversation_id = conversation AND role = 'service_provider'
     AND user_id IS DISTINCT FROM NEW.service_provider_id AND user_id IS DISTINCT FROM NEW.owner_id;
  GET DIAGNOSTICS removed = ROW_COUNT;
  INSERT INTO conversation_participants (conversation_id, user_id, role)
  SELECT conversation, p.id, p.role
    FROM (VALUES (NEW.owner_id, 'user'), (NEW.service_provider_id, 'service_provider')) AS p (id, role)
   WHERE p.id IS NOT NULL
  ON CONFLICT (conversation_id, user_id) DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT;
  IF removed + added > 0 THEN
    UPDATE conversations SET updated_at = now() WHERE id = conversation;
  END IF;
  RETURN NULL;
END $$`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE orders DROP COLUMN statuses_at_changed_at`.execute(db);
  await sql`DROP FUNCTION participants_add(uuid, uuid, boolean, uuid, integer, integer, interval)`.execute(db);
  await sql`DROP FUNCTION messages_send(uuid, uuid, text, text, integer, interval)`.execute(db);
  await sql`DROP FUNCTION take_rate_slot(uuid, text, integer, interval)`.execute(db);
  await sql`INSERT INTO send_rate (user_id, recent) SELECT user_id, recent FROM rate_limits WHERE action = 'send_message'
    ON CONFLICT (user_id) DO UPDATE SET recent = excluded.recent`.execute(db);
  await sql`DROP TABLE rate_limits`.execute(db);
}
