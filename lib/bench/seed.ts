import { createHash } from 'node:crypto';
import type pg from 'pg';
import { RECOUNTED_UNREAD } from '../messaging/read-marks';

/**
 * Seeds a marketplace-sized data set with a handful of set-based statements (generate_series),
 * never one request per row. Ids are md5-derived so the benchmark can name users and
 * conversations without reading them back.
 */
export interface DataSetSize {
  label: string;
  users: number;
  conversations: number;
  messages: number;
  heavyUsers: number;
  heavyUserConversations: number;
  longConversations: number;
  longConversationMessages: number;
}

export const fullSize: DataSetSize = {
  label: 'full',
  users: 20_000,
  conversations: 200_000,
  messages: 2_000_000,
  heavyUsers: 5,
  heavyUserConversations: 2_000,
  longConversations: 3,
  longConversationMessages: 50_000,
};

export function scaled(size: DataSetSize, factor: number, label: string): DataSetSize {
  const s = (n: number) => Math.max(1, Math.round(n * factor));
  return {
    label,
    users: s(size.users),
    conversations: s(size.conversations),
    messages: s(size.messages),
    heavyUsers: size.heavyUsers,
    heavyUserConversations: s(size.heavyUserConversations),
    longConversations: size.longConversations,
    longConversationMessages: s(size.longConversationMessages),
  };
}

/** Conversations in which a heavy user has unread messages: their newest ones, the same number at every size. */
export const HEAVY_USER_UNREAD_CONVERSATIONS = 50;

export function md5Uuid(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** User n (1-based); users 1..heavyUsers are the heavy ones. */
export const userId = (n: number) => md5Uuid(`u${n}`);
/** Conversation n (1-based); conversations 1..longConversations are the long ones. */
export const conversationId = (n: number) => md5Uuid(`c${n}`);

/** Members of conversation g: 2 to 5 users spread over the population, the first one sends first. */
function membersSql(size: DataSetSize) {
  const heavyStride = Math.max(1, Math.floor(size.conversations / size.heavyUserConversations));
  return `
    SELECT array_agg(DISTINCT m) AS members FROM (
      SELECT md5('u' || (((g * 31 + j * 997) % ${size.users}) + 1))::uuid AS m
        FROM generate_series(0, 1 + g % 4) AS j
      UNION ALL
      -- heavy user h sits in every conversation g with g % stride = h - 1
      SELECT md5('u' || ((g % ${heavyStride}) + 1))::uuid
       WHERE (g % ${heavyStride}) < ${size.heavyUsers} AND g <= ${heavyStride * size.heavyUserConversations}
    ) AS picked`;
}

export async function seed(client: pg.Client, size: DataSetSize, log: (line: string) => void): Promise<void> {
  const rest = size.messages - size.longConversations * size.longConversationMessages;
  const perConversation = Math.max(1, rest / Math.max(1, size.conversations - size.longConversations));
  const step = async (what: string, text: string) => {
    const started = Date.now();
    await client.query(text);
    log(`  ${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  // Bulk load with triggers and foreign-key checks off (the data is consistent by construction,
  // and seedViolations checks it after) and the secondary indexes built once at the end.
  await client.query(`SET session_replication_role = replica`);
  await client.query(`SET maintenance_work_mem = '512MB'`);
  const { rows: indexes } = await client.query<{ name: string; definition: string }>(`
    SELECT i.indexname AS name, i.indexdef AS definition FROM pg_indexes i
     WHERE i.schemaname = 'public' AND i.tablename IN ('messages', 'conversation_participants', 'conversations')
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`);
  for (const index of indexes) await client.query(`DROP INDEX ${index.name}`);

  await step(
    `users (${size.users})`,
    `INSERT INTO users (id, role, created_at, updated_at)
     SELECT md5('u' || g)::uuid,
            CASE WHEN g % 50 = 0 THEN 'agent' WHEN g % 7 = 0 THEN 'service_provider' ELSE 'user' END,
            now() - interval '120 days', now() - interval '120 days'
       FROM generate_series(1, ${size.users}) AS g`,
  );
  await step(
    'conversation plan',
    `CREATE UNLOGGED TABLE bench_plan AS
     SELECT g, md5('c' || g)::uuid AS id,
            CASE WHEN g <= ${size.longConversations} THEN ${size.longConversationMessages}
                 ELSE 1 + ((g * 7919) % ${Math.max(1, Math.round(2 * perConversation - 1))}) END AS message_count,
            now() - interval '100 days' + (g::float8 / ${size.conversations}) * interval '60 days' AS created_at,
            (${membersSql(size)}) AS members
       FROM generate_series(1::bigint, ${size.conversations}) AS g`,
  );
  await step(
    `conversations (${size.conversations})`,
    `INSERT INTO conversations (id, type, subject, status, created_by, last_message_seq, revision, created_at, updated_at,
                                largest_message_bound)
     SELECT id, (ARRAY['general', 'support', 'general'])[1 + g % 3], 'Conversation ' || g,
            CASE WHEN g % 50 = 0 THEN 'closed' ELSE 'active' END, members[1], message_count, message_count,
            created_at, created_at + message_count * interval '1 minute',
            -- At least the bound of the longest message below (the most digits, the most
            -- repeats), as the sends keep it.
            message_bound('Message ' || message_count || ' of conversation ' || g || repeat(' and some more words', 7), NULL)
       FROM bench_plan`,
  );
  const heavyStride = Math.max(1, Math.floor(size.conversations / size.heavyUserConversations));
  await step(
    'participants',
    `INSERT INTO conversation_participants (conversation_id, user_id, role, joined_at, last_read_seq, unread_count, last_read_at, activity_at)
     SELECT p.id, u.id, u.role, p.created_at, r.last_read_seq,
            -- what the triggers would have counted: others' messages after the read mark
            (SELECT count(*) FROM generate_series(r.last_read_seq + 1, p.message_count) AS n
              WHERE p.members[1 + n % cardinality(p.members)] <> u.id),
            -- read up to message n means read at message n's time (messages are a minute apart)
            CASE WHEN r.last_read_seq > 0 THEN p.created_at + r.last_read_seq * interval '1 minute' END,
            p.created_at + p.message_count * interval '1 minute'
       FROM bench_plan p CROSS JOIN LATERAL unnest(p.members) WITH ORDINALITY AS m (user_id, position)
       JOIN users u ON u.id = m.user_id
       -- Sending reads the conversation up to one's own message (the send moves the sender's read
       -- mark): the mark is never before the member's own last message, n ≡ position - 1 (mod members).
       CROSS JOIN LATERAL (SELECT p.message_count - (((p.message_count - (m.position - 1)) % cardinality(p.members))
                                                     + cardinality(p.members)) % cardinality(p.members) AS own_last) AS o
       CROSS JOIN LATERAL (SELECT greatest(o.own_last, CASE
              -- A heavy user (an agent in thousands of conversations) has read all but their
              -- ${HEAVY_USER_UNREAD_CONVERSATIONS} newest conversations, at every size; everyone else (a few dozen
              -- conversations each, at every size) is 0 to 2 messages behind in each.
              WHEN u.id IN (SELECT md5('u' || h)::uuid FROM generate_series(1, ${size.heavyUsers}) AS h)
               AND p.g <= ${heavyStride * Math.max(0, size.heavyUserConversations - HEAVY_USER_UNREAD_CONVERSATIONS)}
                THEN p.message_count
              ELSE greatest(0, p.message_count - (abs(hashtext(p.id::text || u.id::text)) % 3)) END) AS last_read_seq) AS r`,
  );
  await step(
    `messages (${size.messages})`,
    // Random ids, as the service gave messages before migration 0011 (time-ordered ids follow its
    // default): a seeded history whose ids came in one burst would be one sorted run, every page
    // of it cached after the first, for us and for the plan's copy alike.
    `INSERT INTO messages (id, conversation_id, seq, revision, sender_id, kind, content, created_at, updated_at)
     SELECT gen_random_uuid(), p.id, n, n, p.members[1 + n % cardinality(p.members)], 'user',
            'Message ' || n || ' of conversation ' || p.g || repeat(' and some more words', (n % 8)::int),
            p.created_at + n * interval '1 minute', p.created_at + n * interval '1 minute'
       FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.message_count) AS n`,
  );
  await client.query(`DROP TABLE bench_plan`);
  for (const index of indexes) await step(`index ${index.name}`, index.definition);
  await client.query(`SET session_replication_role = DEFAULT`);
  await step('vacuum analyze', 'VACUUM (ANALYZE) messages, conversations, conversation_participants, users');
  const started = Date.now();
  const problems = await seedViolations(client);
  if (problems.length) throw new Error(`the seeded data is inconsistent: ${problems.join('; ')}`);
  log(`  checked: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // Flush the load now, not in the middle of a measurement.
  await step('checkpoint', 'CHECKPOINT');
}

/**
 * What the seeded rows must agree on, as the service's writes keep it (triggers and checks were
 * off while loading): each kept unread count is the recount of others' messages after the read
 * mark, no member has their own message after their mark (a send moves it), the read time is the
 * read message's, and the mark is within the conversation. An empty list when all hold.
 */
export async function seedViolations(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ check: string; rows: string }>(`
    SELECT 'unread count differs from the recount' AS check, count(*) AS rows FROM conversation_participants p
     WHERE p.unread_count <> ${RECOUNTED_UNREAD}
    UNION ALL
    SELECT 'own message after the read mark', count(*) FROM conversation_participants p
     WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = p.conversation_id
                     AND m.seq > p.last_read_seq AND m.sender_id = p.user_id)
    UNION ALL
    SELECT 'read time is not the read message''s', count(*) FROM conversation_participants p
     WHERE p.last_read_seq > 0 AND p.last_read_at IS DISTINCT FROM (
             SELECT m.created_at FROM messages m WHERE m.conversation_id = p.conversation_id AND m.seq = p.last_read_seq)
    UNION ALL
    SELECT 'read mark outside the conversation', count(*) FROM conversation_participants p
      JOIN conversations c ON c.id = p.conversation_id
     WHERE p.last_read_seq < 0 OR p.last_read_seq > c.last_message_seq`);
  return rows.filter((r) => Number(r.rows) > 0).map((r) => `${r.check}: ${r.rows} rows`);
}
