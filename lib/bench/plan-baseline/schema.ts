/**
 * The plan's schema (/work/shared/seed-plan.md, "Database Schema"), with the indexes and triggers
 * its step 1 asks for: one statement per entry, so that it can be applied where one call runs one
 * statement (the Data API, PGlite's extended protocol) as well as through psql.
 */
export const planSchema: readonly string[] = [
  // The plan's tables reference users(id) and orders(id); only the ids matter here.
  `CREATE TABLE users (id uuid PRIMARY KEY, role varchar(50) NOT NULL DEFAULT 'user')`,
  'CREATE TABLE orders (id uuid PRIMARY KEY)',
  // Plan, "conversations Table"; status added because the plan's admin endpoint filters on it (?status=active).
  `CREATE TABLE conversations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id UUID REFERENCES orders(id) ON DELETE CASCADE,
  type VARCHAR(50) NOT NULL CHECK (type IN ('order', 'general', 'support')),
  subject VARCHAR(255),
  status VARCHAR(20) NOT NULL DEFAULT 'active',
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW()
)`,
  // Plan, "conversation_participants Table".
  `CREATE TABLE conversation_participants (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role VARCHAR(50) NOT NULL CHECK (role IN ('user', 'agent', 'admin', 'service_provider')),
  joined_at TIMESTAMP DEFAULT NOW(),
  last_read_at TIMESTAMP,
  UNIQUE(conversation_id, user_id)
)`,
  // Plan, "messages Table".
  `CREATE TABLE messages (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  sender_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  content TEXT NOT NULL,
  read_at TIMESTAMP,
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW()
)`,
  // Plan, step 1 "Add triggers for updated_at".
  `CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$`,
  'CREATE TRIGGER conversations_updated_at BEFORE UPDATE ON conversations FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
  'CREATE TRIGGER messages_updated_at BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
];

/**
 * Plan, step 1 "Add indexes for efficient queries": one per access path the plan's endpoints use.
 * Separate from the tables so that a bulk copy can build them once, after the rows are in.
 */
export const planIndexes: readonly string[] = [
  'CREATE INDEX conversations_order_id ON conversations (order_id)', // ?orderId=, order events
  'CREATE INDEX conversations_updated_at ON conversations (updated_at DESC)', // admin list, newest first
  'CREATE INDEX participants_user_id ON conversation_participants (user_id)', // a user's conversations
  'CREATE INDEX messages_conversation_created ON messages (conversation_id, created_at)', // pages, last message, unread
];

/** For psql: the statements as one script. */
export const asScript = (statements: readonly string[]) => statements.map((s) => `${s};\n`).join('');
