import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dialect, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema';
import { interceptingDialect } from '../db/statement-counter';
import { MessagingService } from '../messaging/messaging-service';
import type { Caller } from '../messaging/types';
import { conversationId, type DataSetSize, userId } from './seed';

/**
 * Our statements against the plan's naive implementation, in SQL alone: pgbench against the same
 * PostgreSQL, each side in its own database holding the same logical data, the two sides
 * interleaved scenario by scenario. Our statements are the exact SQL the service sends (captured
 * from the service with its parameters written in as literals); the baseline's are what a
 * competent developer writes from /work/shared/seed-plan.md, each citing the plan.
 */

export interface SqlFigures {
  key: string;
  name: string;
  clients: number;
  ours: PgbenchFigures;
  plan: PgbenchFigures;
}

export interface PgbenchFigures {
  tps: number;
  p50: number;
  p95: number;
  p99: number;
  transactions: number;
  failed: number;
  /** Statements per transaction. */
  statements: number;
}

/** The plan's schema ("Database Schema"), with the indexes and triggers its step 1 asks for. */
const baselineSchema = `
-- The plan's tables reference users(id) and orders(id); only the ids matter here.
CREATE TABLE users (id uuid PRIMARY KEY, role varchar(50) NOT NULL DEFAULT 'user');
CREATE TABLE orders (id uuid PRIMARY KEY);
-- Plan, "conversations Table"; status added because the plan's admin endpoint filters on it (?status=active).
CREATE TABLE conversations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id UUID REFERENCES orders(id) ON DELETE CASCADE,
  type VARCHAR(50) NOT NULL CHECK (type IN ('order', 'general', 'support')),
  subject VARCHAR(255),
  status VARCHAR(20) NOT NULL DEFAULT 'active',
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW()
);
-- Plan, "conversation_participants Table".
CREATE TABLE conversation_participants (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role VARCHAR(50) NOT NULL CHECK (role IN ('user', 'agent', 'admin', 'service_provider')),
  joined_at TIMESTAMP DEFAULT NOW(),
  last_read_at TIMESTAMP,
  UNIQUE(conversation_id, user_id)
);
-- Plan, "messages Table".
CREATE TABLE messages (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  sender_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  content TEXT NOT NULL,
  read_at TIMESTAMP,
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW()
);
-- Plan, step 1 "Add triggers for updated_at".
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER conversations_updated_at BEFORE UPDATE ON conversations FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER messages_updated_at BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION set_updated_at();
`;

/** Plan, step 1 "Add indexes for efficient queries": one per access path the plan's endpoints use. */
const baselineIndexes = `
CREATE INDEX conversations_order_id ON conversations (order_id);           -- ?orderId=, order events
CREATE INDEX conversations_updated_at ON conversations (updated_at DESC);  -- admin list, newest first
CREATE INDEX participants_user_id ON conversation_participants (user_id);  -- a user's conversations
CREATE INDEX messages_conversation_created ON messages (conversation_id, created_at); -- pages, last message, unread
`;

const psql = (url: string, args: string[]) =>
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });

/**
 * A database with the plan's schema and the same logical data as ours: copied with COPY, foreign
 * keys and triggers off while copying (the rows come from a database that checked them), indexed after.
 */
export async function createBaseline(
  serverUrl: string,
  name: string,
  oursUrl: string,
  log: (line: string) => void,
): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const baseUrl = url.toString();
  psql(baseUrl, ['-c', baselineSchema]);
  const copies: Array<[string, string]> = [
    ['users (id, role)', 'SELECT id, role FROM users'],
    [
      'conversations (id, type, subject, status, created_at, updated_at)',
      `SELECT id, type, subject, status, created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC' FROM conversations`,
    ],
    [
      'conversation_participants (conversation_id, user_id, role, joined_at, last_read_at)',
      `SELECT conversation_id, user_id, role, joined_at AT TIME ZONE 'UTC', last_read_at AT TIME ZONE 'UTC' FROM conversation_participants`,
    ],
    [
      'messages (id, conversation_id, sender_id, content, read_at, created_at, updated_at)',
      `SELECT id, conversation_id, sender_id, content, read_at AT TIME ZONE 'UTC', created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC' FROM messages WHERE sender_id IS NOT NULL AND deleted_at IS NULL`,
    ],
  ];
  for (const [target, query] of copies) {
    const t = Date.now();
    execSync(
      `psql -X -q -d '${oursUrl}' -c "\\copy (${query}) TO STDOUT" | psql -X -q -v ON_ERROR_STOP=1 -d '${baseUrl}' -c "SET session_replication_role = replica" -c "\\copy ${target} FROM STDIN"`,
      { stdio: ['ignore', 'ignore', 'inherit'], shell: '/bin/bash' },
    );
    log(`  baseline ${target.split(' ')[0]}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const t = Date.now();
  psql(baseUrl, [
    '-c',
    `SET maintenance_work_mem = '512MB'`,
    '-c',
    baselineIndexes,
    '-c',
    'VACUUM (ANALYZE)',
    '-c',
    'CHECKPOINT',
  ]);
  log(`  baseline indexes, vacuum: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return baseUrl;
}

/** Writes a compiled statement's parameters into its text as literals, for pgbench. */
function inline(sqlText: string, parameters: readonly unknown[]): string {
  return sqlText.replace(/\$(\d+)/g, (_, n: string) => {
    const value = parameters[Number(n) - 1];
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
    if (typeof value === 'boolean') return value ? 'true' : 'false';
    if (value instanceof Date) return `'${value.toISOString()}'`;
    return `'${String(value).replace(/'/g, "''")}'`;
  });
}

/** The exact statements our service sends for these calls. */
async function captureOurs(
  url: string,
  calls: Record<string, (s: MessagingService) => Promise<unknown>>,
): Promise<Record<string, string>> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  let captured = '';
  const dialect: Dialect = interceptingDialect(new PostgresDialect({ pool }), {
    async statement(query) {
      captured = inline(query.sql, query.parameters);
      return { rows: [] };
    },
  });
  const db = new Kysely<Database>({ dialect });
  const service = new MessagingService(db);
  const out: Record<string, string> = {};
  for (const [key, call] of Object.entries(calls)) {
    captured = '';
    await call(service).catch(() => undefined); // no rows come back; the statement is what we want
    out[key] = captured.trim();
  }
  await db.destroy();
  return out;
}

/** Runs one pgbench script; latencies from its per-transaction log. */
function pgbench(url: string, script: string, clients: number, seconds: number, statements: number): PgbenchFigures {
  const dir = mkdtempSync(join(tmpdir(), 'pgbench-'));
  const file = join(dir, 'script.sql');
  writeFileSync(file, script);
  let out = '';
  try {
    out = execFileSync(
      'pgbench',
      [
        '-n',
        '-f',
        file,
        '-c',
        String(clients),
        '-j',
        String(Math.min(clients, 2)),
        '-T',
        String(seconds),
        '-l',
        '--log-prefix',
        join(dir, 'log'),
        url,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (error) {
    throw new Error(`pgbench failed: ${String((error as { stderr?: string }).stderr ?? error)}\n${script}`);
  }
  const latencies: number[] = [];
  for (const name of readdirSync(dir).filter((f) => f.startsWith('log'))) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      const fields = line.split(' ');
      if (fields.length > 2) latencies.push(Number(fields[2]) / 1000);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? 0);
  const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
  return { tps, p50: at(50), p95: at(95), p99: at(99), transactions: latencies.length, failed, statements };
}

export function pgbenchAvailable(): boolean {
  try {
    execFileSync('pgbench', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface SqlScenario {
  key: string;
  name: string;
  clients: number;
  ours: string;
  plan: string;
  oursStatements: number;
  planStatements: number;
}

/**
 * The scenarios. Senders are drawn at random from every conversation's first member (200,000
 * conversations at full size), so each user sends far below the production limit of 20 per 10 s
 * and the rate limiter runs as it does in production: with its real limit and window.
 */
export async function sqlScenarios(size: DataSetSize, oursUrl: string): Promise<SqlScenario[]> {
  const heavy = userId(1);
  const long = conversationId(1);
  const longMember = userId(((1 * 31) % size.users) + 1);
  const n = size.longConversationMessages;
  const client = new pg.Client({ connectionString: oursUrl });
  await client.connect();
  const idAt = async (seq: number) =>
    (await client.query<{ id: string }>('SELECT id FROM messages WHERE conversation_id = $1 AND seq = $2', [long, seq]))
      .rows[0]!.id;
  const oldestAnchor = await idAt(Math.min(n, 51));
  const middleAnchor = await idAt(Math.max(1, Math.floor(n / 2) + 1));
  await client.end();
  const me = (id: string): Caller => ({ userId: id, role: 'user', isAdmin: false });
  const ours = await captureOurs(oursUrl, {
    inbox: (s) => s.listConversations(me(heavy), {}, { limit: 20, offset: 0 }),
    unread: (s) => s.getUnreadTotal(me(heavy)),
    pageOldest: (s) => s.listMessages(me(longMember), long, { limit: 50, offset: 0, before: oldestAnchor }),
    pageMiddle: (s) => s.listMessages(me(longMember), long, { limit: 50, offset: 0, before: middleAnchor }),
    pageNewest: (s) => s.listMessages(me(longMember), long, { limit: 50, offset: 0 }),
    markRead: (s) => s.markConversationRead(me(longMember), long),
  });
  const q = (s: string) => `'${s}'`;
  // Conversation g = 50 q + r, r in 4..49: never one of the three long ones, never a closed one
  // (the seed closes every 50th); its first member is user (31 g mod users) + 1.
  const pickSender = `\\set q random(0, ${Math.max(0, Math.floor(size.conversations / 50) - 1)})
\\set r random(4, 49)
\\set g 50 * :q + :r
\\set u (:g * 31) % ${size.users} + 1
`;
  const oursSend = `${pickSender}/* messages.send */ SELECT outcome, retry_after, message FROM messages_send(cast(md5('c' || :g) as uuid), cast(md5('u' || :u) as uuid), 'pgbench message from the sender', NULL, NULL, 20, make_interval(secs => 10));
`;
  // Plan, "Message Sending": validate sender is participant; create message record; update
  // conversation updated_at; update sender's last_read_at; return created message.
  const planSend = `${pickSender}BEGIN;
SELECT 1 FROM conversation_participants WHERE conversation_id = cast(md5('c' || :g) as uuid) AND user_id = cast(md5('u' || :u) as uuid);
INSERT INTO messages (conversation_id, sender_id, content) VALUES (cast(md5('c' || :g) as uuid), cast(md5('u' || :u) as uuid), 'pgbench message from the sender') RETURNING *;
UPDATE conversations SET updated_at = NOW() WHERE id = cast(md5('c' || :g) as uuid);
UPDATE conversation_participants SET last_read_at = NOW() WHERE conversation_id = cast(md5('c' || :g) as uuid) AND user_id = cast(md5('u' || :u) as uuid);
COMMIT;
`;
  // Plan endpoint 3, "?limit=50&offset=0": oldest first, offset paging; the access check of
  // "Security Considerations" as an EXISTS in the same statement.
  const planPage = (offset: number) => `SELECT m.* FROM messages m
 WHERE m.conversation_id = ${q(long)} AND EXISTS (SELECT 1 FROM conversation_participants p WHERE p.conversation_id = ${q(long)} AND p.user_id = ${q(longMember)})
 ORDER BY m.created_at ASC LIMIT 50 OFFSET ${offset};
`;
  return [
    {
      key: 'inbox',
      name: 'inbox of a heavy user (20 newest)',
      clients: 4,
      ours: `${ours.inbox};\n`,
      oursStatements: 1,
      // Plan endpoint 1, "List user's conversations … with last message preview", and "Show unread
      // count per conversation" (Read Status): unread = others' messages after last_read_at.
      plan: `SELECT c.*, lm.content AS last_message, lm.created_at AS last_message_at,
  (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.sender_id <> p.user_id
      AND (p.last_read_at IS NULL OR m.created_at > p.last_read_at)) AS unread_count
  FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
  LEFT JOIN LATERAL (SELECT content, created_at FROM messages m WHERE m.conversation_id = c.id ORDER BY m.created_at DESC LIMIT 1) lm ON true
 WHERE p.user_id = ${q(heavy)} ORDER BY c.updated_at DESC LIMIT 20 OFFSET 0;
`,
      planStatements: 1,
    },
    {
      key: 'unread',
      name: 'unread total of a heavy user',
      clients: 4,
      ours: `${ours.unread};\n`,
      oursStatements: 1,
      // Plan, "Read Status": "Show unread indicator", counted from last_read_at.
      plan: `SELECT count(*) AS unread, count(DISTINCT p.conversation_id) AS conversations
  FROM conversation_participants p JOIN messages m ON m.conversation_id = p.conversation_id
 WHERE p.user_id = ${q(heavy)} AND m.sender_id <> p.user_id AND (p.last_read_at IS NULL OR m.created_at > p.last_read_at);
`,
      planStatements: 1,
    },
    {
      key: 'pageOldest',
      name: `50-message page, oldest, of a ${n.toLocaleString('en')}-message conversation`,
      clients: 4,
      ours: `${ours.pageOldest};\n`,
      oursStatements: 1,
      plan: planPage(0),
      planStatements: 1,
    },
    {
      key: 'pageMiddle',
      name: '50-message page, middle',
      clients: 4,
      ours: `${ours.pageMiddle};\n`,
      oursStatements: 1,
      plan: planPage(Math.floor(n / 2) - 50),
      planStatements: 1,
    },
    {
      key: 'pageNewest',
      name: '50-message page, newest',
      clients: 4,
      ours: `${ours.pageNewest};\n`,
      oursStatements: 1,
      plan: planPage(Math.max(0, n - 50)),
      planStatements: 1,
    },
    {
      key: 'markRead',
      name: 'mark a conversation read',
      clients: 4,
      ours: `${ours.markRead};\n`,
      oursStatements: 1,
      // Plan endpoint 7 and "Track when user reads entire conversation".
      plan: `BEGIN;
UPDATE messages SET read_at = NOW() WHERE conversation_id = ${q(long)} AND sender_id <> ${q(longMember)} AND read_at IS NULL;
UPDATE conversation_participants SET last_read_at = NOW() WHERE conversation_id = ${q(long)} AND user_id = ${q(longMember)};
COMMIT;
`,
      planStatements: 2,
    },
    {
      key: 'send',
      name: 'send, 32 concurrent users',
      clients: 32,
      ours: oursSend,
      oursStatements: 1,
      plan: planSend,
      planStatements: 4,
    },
  ];
}

/** Every scenario on both sides, alternating which side goes first, after a discarded warm-up each. */
export async function runSqlBench(
  scenarios: SqlScenario[],
  urls: { ours: string; plan: string },
  seconds: number,
  log: (line: string) => void,
  warmSeconds = Math.max(1, Math.round(seconds / 5)),
): Promise<SqlFigures[]> {
  const figures: SqlFigures[] = [];
  for (const [index, s] of scenarios.entries()) {
    const run = (side: 'ours' | 'plan') => {
      const url = urls[side];
      const script = s[side];
      if (warmSeconds > 0) pgbench(url, script, s.clients, warmSeconds, 1);
      return pgbench(url, script, s.clients, seconds, side === 'ours' ? s.oursStatements : s.planStatements);
    };
    let ours: PgbenchFigures;
    let plan: PgbenchFigures;
    if (index % 2 === 0) {
      ours = run('ours');
      plan = run('plan');
    } else {
      plan = run('plan');
      ours = run('ours');
    }
    figures.push({ key: s.key, name: s.name, clients: s.clients, ours, plan });
    log(
      `sql ${s.name}: ours p95 ${ours.p95.toFixed(2)} ms ${ours.tps.toFixed(0)} tps; plan p95 ${plan.p95.toFixed(2)} ms ${plan.tps.toFixed(0)} tps` +
        (ours.failed || plan.failed ? ` (failed: ours ${ours.failed}, plan ${plan.failed})` : ''),
    );
  }
  return figures;
}
