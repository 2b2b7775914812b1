import { type Kysely, sql } from 'kysely';

/**
 * The messaging schema. One statement per `execute`: the Data API runs one statement per call.
 *
 * Notes on choices that go beyond the seed plan:
 * - timestamps are `timestamptz(3)` (the seed says TIMESTAMP): instants, not wall-clock times,
 *   and millisecond precision so a value read back compares exactly when sent as a filter;
 * - `messages.seq` is a per-conversation counter assigned under the conversation's row lock, so
 *   commit order equals seq order inside a conversation: a poller that asks for "after seq N"
 *   never skips a message that committed late. Read marks are seqs too;
 * - `messages.sender_id` is null for system messages (order status updates), which no human sent;
 * - `conversation_participants.activity_at` mirrors `conversations.updated_at` (kept by a trigger)
 *   so that a user's inbox is one index range scan, whatever the number of their conversations;
 * - `conversation_participants.unread_count` is kept exact by triggers and by the read-mark
 *   statements, so unread counts and totals cost no counting at read time;
 * - `send_rate` holds each sender's recent send times: the rate limit is enforced by an
 *   `INSERT … ON CONFLICT DO UPDATE … WHERE`, which sees the latest row under its lock.
 */
const statements = [
  sql`CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$`,

  sql`CREATE TABLE users (
  id uuid PRIMARY KEY,
  role varchar(50) NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'agent', 'admin', 'service_provider')),
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
)`,
  sql`CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at()`,

  // A projection of the order service's orders. owner_id is null only for a shell created by an
  // event that overtook OrderCreated. status_version/status_changed_at and
  // service_provider_changed_at order out-of-order events; deleted_at is a tombstone so that a
  // late or retried OrderCreated cannot bring a deleted order back.
  sql`CREATE TABLE orders (
  id uuid PRIMARY KEY,
  owner_id uuid REFERENCES users(id) ON DELETE SET NULL,
  service_provider_id uuid REFERENCES users(id) ON DELETE SET NULL,
  service_provider_changed_at timestamptz(3),
  title varchar(255),
  status varchar(50),
  status_version bigint,
  status_changed_at timestamptz(3),
  deleted_at timestamptz(3),
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
)`,
  sql`CREATE TRIGGER orders_updated_at BEFORE UPDATE ON orders FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at()`,

  sql`CREATE TABLE conversations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id uuid REFERENCES orders(id) ON DELETE CASCADE,
  type varchar(50) NOT NULL CHECK (type IN ('order', 'general', 'support')),
  subject varchar(255),
  status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  last_message_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT order_conversation_has_order CHECK (type <> 'order' OR order_id IS NOT NULL)
)`,
  sql`CREATE UNIQUE INDEX conversations_one_per_order ON conversations (order_id) WHERE type = 'order'`,
  sql`CREATE INDEX conversations_by_order ON conversations (order_id) WHERE order_id IS NOT NULL`,
  // The admin listing: newest activity first, keyset-paged on (updated_at, id).
  sql`CREATE INDEX conversations_by_activity ON conversations (updated_at DESC, id DESC)`,
  sql`CREATE TRIGGER conversations_updated_at BEFORE UPDATE ON conversations FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at()`,

  sql`CREATE TABLE conversation_participants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role varchar(50) NOT NULL CHECK (role IN ('user', 'agent', 'admin', 'service_provider')),
  joined_at timestamptz(3) NOT NULL DEFAULT now(),
  last_read_at timestamptz(3),
  last_read_seq bigint NOT NULL DEFAULT 0,
  unread_count integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
  activity_at timestamptz(3) NOT NULL DEFAULT now(),
  UNIQUE (conversation_id, user_id)
)`,
  // A user's inbox by latest activity, and the unread total, both start here.
  sql`CREATE INDEX participants_inbox ON conversation_participants (user_id, activity_at DESC, conversation_id DESC)`,

  // Keeps each participant's copy of the conversation's activity time current, and adds the new
  // messages (others sent, after the participant's read mark) to their unread count. A trigger,
  // because it runs at the end of the statement with a fresh snapshot while the statement holds the
  // conversation's row lock: a participant who joined in a transaction that committed meanwhile is
  // seen, so no increment is lost.
  sql`CREATE FUNCTION mirror_conversation_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
  sql`CREATE TRIGGER conversations_mirror_activity AFTER UPDATE ON conversations FOR EACH ROW
  WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.last_message_seq IS DISTINCT FROM NEW.last_message_seq)
  EXECUTE FUNCTION mirror_conversation_activity()`,

  // A participant who joins starts with every earlier message of others unread. Counted at the end
  // of the joining statement, which holds the conversation's row lock (see the statements that add
  // participants), so a message sent meanwhile is counted exactly once.
  sql`CREATE FUNCTION count_unread_on_join() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversation_participants p
     SET unread_count = (
       SELECT count(*) FROM messages m
        WHERE m.conversation_id = NEW.conversation_id AND m.seq > NEW.last_read_seq
          AND m.sender_id IS DISTINCT FROM NEW.user_id)
   WHERE p.id = NEW.id;
  RETURN NULL;
END $$`,
  sql`CREATE TRIGGER participants_count_unread AFTER INSERT ON conversation_participants FOR EACH ROW
  EXECUTE FUNCTION count_unread_on_join()`,

  // An order's conversation follows the order's owner and provider: added when known, a replaced
  // provider removed. A trigger rather than a CTE because its statements take fresh snapshots,
  // so concurrent reassignments end with the newest provider alone, whatever commits first.
  sql`CREATE FUNCTION sync_order_participants() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  conversation uuid;
BEGIN
  SELECT id INTO conversation FROM conversations WHERE order_id = NEW.id AND type = 'order';
  IF conversation IS NULL THEN
    RETURN NULL;
  END IF;
  DELETE FROM conversation_participants
   WHERE conversation_id = conversation AND role = 'service_provider'
     AND user_id IS DISTINCT FROM NEW.service_provider_id AND user_id IS DISTINCT FROM NEW.owner_id;
  INSERT INTO conversation_participants (conversation_id, user_id, role)
  SELECT conversation, p.id, p.role
    FROM (VALUES (NEW.owner_id, 'user'), (NEW.service_provider_id, 'service_provider')) AS p (id, role)
   WHERE p.id IS NOT NULL
  ON CONFLICT (conversation_id, user_id) DO NOTHING;
  RETURN NULL;
END $$`,
  sql`CREATE TRIGGER orders_sync_participants AFTER INSERT OR UPDATE OF owner_id, service_provider_id ON orders
  FOR EACH ROW WHEN (NEW.deleted_at IS NULL) EXECUTE FUNCTION sync_order_participants()`,

  sql`CREATE TABLE messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  sender_id uuid REFERENCES users(id) ON DELETE CASCADE,
  kind varchar(20) NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'system')),
  content text NOT NULL CHECK (char_length(content) BETWEEN 1 AND 10000),
  client_message_id varchar(100),
  read_at timestamptz(3),
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  updated_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT system_messages_have_no_sender CHECK ((kind = 'user') = (sender_id IS NOT NULL))
)`,
  // A conversation's messages in order; sender_id rides along so unread counting reads the index only.
  sql`CREATE UNIQUE INDEX messages_in_order ON messages (conversation_id, seq) INCLUDE (sender_id)`,
  // Idempotent send: one message per (conversation, sender, client id).
  sql`CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, sender_id, client_message_id)`,
  // One user's sends in a time window (auditing and abuse review; the limiter itself uses send_rate).
  sql`CREATE INDEX messages_by_sender_time ON messages (sender_id, created_at) WHERE sender_id IS NOT NULL`,
  // updated_at on a message means its content changed, not that someone read it.
  sql`CREATE TRIGGER messages_updated_at BEFORE UPDATE OF content ON messages FOR EACH ROW EXECUTE FUNCTION set_updated_at()`,

  sql`CREATE TABLE send_rate (
  user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  recent timestamptz(3)[] NOT NULL
)`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['send_rate', 'messages', 'conversation_participants', 'conversations', 'orders', 'users']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(table)} CASCADE`.execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS mirror_conversation_activity()`.execute(db);
  await sql`DROP FUNCTION IF EXISTS sync_order_participants()`.execute(db);
  await sql`DROP FUNCTION IF EXISTS count_unread_on_join()`.execute(db);
  await sql`DROP FUNCTION IF EXISTS set_updated_at()`.execute(db);
}
