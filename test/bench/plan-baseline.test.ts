import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planIndexes, planSchema } from '../../lib/bench/plan-baseline/schema';
import { startPlanStack } from '../../lib/bench/plan-baseline/stack';
import { createDatabase, type DatabaseHandle } from '../../lib/db/create-database';
import { localAuthConfig, signLocalToken } from '../../lib/local/local-auth';
import type { LocalServer } from '../../lib/local/local-server';
import { type DataApiStandIn, startDataApiStandIn } from '../support/data-api-standin';
import { backend } from '../support/test-database';

/**
 * The benchmark's plan baseline (lib/bench/plan-baseline/) answers correctly through the local
 * gateway, on this run's back end, over a small seeded plan database: if it rotted, the benchmark
 * would compare ours with something broken.
 */
const alice = randomUUID();
const bob = randomUUID();
const outsider = randomUUID();
const long = randomUUID(); // 120 messages, alternately Alice's (odd) and Bob's (even); Alice read up to 100
const short = randomUUID(); // 3 newer messages of Bob's; nobody read any
const longStart = `timestamp '2020-01-01 00:00:00'`;
const shortStart = `timestamp '2020-01-02 00:00:00'`;

const seedStatements = [
  `INSERT INTO users (id, role) VALUES ('${alice}', 'user'), ('${bob}', 'agent'), ('${outsider}', 'user')`,
  `INSERT INTO conversations (id, type, subject, created_at, updated_at) VALUES
     ('${long}', 'support', 'Long', ${longStart}, ${longStart} + interval '120 minutes'),
     ('${short}', 'general', 'Short', ${shortStart}, ${shortStart} + interval '3 minutes')`,
  `INSERT INTO conversation_participants (conversation_id, user_id, role, joined_at, last_read_at) VALUES
     ('${long}', '${alice}', 'user', ${longStart}, ${longStart} + interval '100 minutes'),
     ('${long}', '${bob}', 'agent', ${longStart}, NULL),
     ('${short}', '${alice}', 'user', ${shortStart}, NULL),
     ('${short}', '${bob}', 'agent', ${shortStart}, NULL)`,
  `INSERT INTO messages (conversation_id, sender_id, content, created_at, updated_at)
   SELECT '${long}', CASE WHEN n % 2 = 1 THEN '${alice}' ELSE '${bob}' END::uuid, 'm' || n,
          ${longStart} + n * interval '1 minute', ${longStart} + n * interval '1 minute'
     FROM generate_series(1, 120) AS n`,
  `INSERT INTO messages (conversation_id, sender_id, content, created_at, updated_at)
   SELECT '${short}', '${bob}', 's' || n, ${shortStart} + n * interval '1 minute', ${shortStart} + n * interval '1 minute'
     FROM generate_series(1, 3) AS n`,
];

let database: DatabaseHandle;
let server: LocalServer;
let standIn: DataApiStandIn | undefined;
let admin: pg.Client | undefined;
let databaseName: string | undefined;
const env = { ...process.env, LOCAL_JWT_KEY_FILE: join(tmpdir(), `plan-baseline-key-${randomUUID()}.json`) };
const auth = localAuthConfig(env);
const tokens: Record<string, string> = {};

/** A database of its own: the plan's tables have the service's names. */
async function openPlanDatabase(): Promise<DatabaseHandle> {
  if (backend === 'pglite') return createDatabase({ kind: 'pglite' });
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  databaseName = `plantest_${Date.now()}_${process.pid}`;
  await admin.query(`CREATE DATABASE ${databaseName}`);
  const url = new URL(serverUrl);
  url.pathname = `/${databaseName}`;
  if (backend === 'postgres')
    return createDatabase({ kind: 'postgres', connectionString: url.toString(), poolSize: 5 });
  standIn = await startDataApiStandIn(url.toString());
  return createDatabase({
    kind: 'data-api',
    endpoint: standIn.endpoint,
    resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:plan-standin',
    secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:plan-standin',
    database: databaseName,
  });
}

beforeAll(async () => {
  database = await openPlanDatabase();
  for (const statement of [...planSchema, ...planIndexes, ...seedStatements])
    await database.db.executeQuery(CompiledQuery.raw(statement));
  server = await startPlanStack(database, { port: 0, env });
  for (const [name, sub] of Object.entries({ alice, bob, outsider })) {
    tokens[name] = await signLocalToken(auth, { sub, groups: name === 'bob' ? ['agent'] : [] });
    // The first request of a user records them (one statement per container): not counted below.
    expect((await call('GET', '/v1/messages/unread', tokens[name]!)).status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
  await database?.close();
  await standIn?.close();
  if (admin && databaseName) await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  await admin?.end();
});

async function call(method: string, path: string, token: string | undefined, body?: unknown) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** The answer and what it cost, read from the gateway's /local/stats as the benchmark reads it. */
async function counted(method: string, path: string, token: string, body?: unknown) {
  const stats = async () => (await (await fetch(`${server.url}/local/stats`)).json()) as Record<string, number>;
  const before = await stats();
  const answer = await call(method, path, token, body);
  const after = await stats();
  return {
    ...answer,
    statements: after.statements! - before.statements!,
    transactions: after.transactions! - before.transactions!,
  };
}

const messagesOf = `/v1/messages/conversations/${long}/messages`;
const contents = (page: { messages: Array<{ content: string }> }) => page.messages.map((m) => m.content);
const range = (from: number, to: number, prefix = 'm') =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);

describe(`plan baseline through the local gateway (${backend})`, () => {
  it('pages at an offset: the 50 messages after it, oldest first, in one statement', async () => {
    const page = await counted('GET', `${messagesOf}?limit=50&offset=60`, tokens.alice!);
    expect(page.status).toBe(200);
    expect(contents(page.body)).toEqual(range(61, 110));
    expect([page.statements, page.transactions]).toEqual([1, 0]);
    const last = await call('GET', `${messagesOf}?offset=100`, tokens.alice!);
    expect(contents(last.body)).toEqual(range(101, 120));
  });

  it('shows no message to a caller who is not a participant, and refuses what the gateway and validation refuse', async () => {
    expect((await call('GET', messagesOf, tokens.outsider!)).body).toEqual({ messages: [] });
    expect((await call('GET', messagesOf, undefined)).status).toBe(401);
    const invalid = await call('GET', `${messagesOf}?offset=-1`, tokens.alice!);
    expect([invalid.status, invalid.body.error.code]).toEqual([400, 'invalid_input']);
  });

  it("lists the caller's conversations, newest first, with last message and unread counts, and the unread total", async () => {
    const inbox = await counted('GET', '/v1/messages/conversations?limit=20', tokens.alice!);
    expect(inbox.status).toBe(200);
    expect(inbox.body.conversations.map((c: any) => [c.id, c.last_message, c.unread_count])).toEqual([
      [short, 's3', 3],
      [long, 'm120', 10], // Bob's 102, 104, …, 120
    ]);
    expect([inbox.statements, inbox.transactions]).toEqual([1, 0]);
    const total = await counted('GET', '/v1/messages/unread', tokens.alice!);
    expect(total.body).toEqual({ unreadCount: 13, conversationCount: 2 });
    expect(total.statements).toBe(1);
  });

  it("sends: stores the message, moves the conversation's updated_at and the sender's read mark, in the plan's four statements", async () => {
    const sent = await counted('POST', messagesOf, tokens.alice!, { content: 'hello from the plan' });
    expect(sent.status).toBe(201);
    expect(sent.body).toMatchObject({ conversation_id: long, sender_id: alice, content: 'hello from the plan' });
    expect([sent.statements, sent.transactions]).toEqual([4, 2]);
    const tail = await call('GET', `${messagesOf}?offset=119`, tokens.bob!);
    expect(contents(tail.body)).toEqual(['m120', 'hello from the plan']);
    expect(tail.body.messages[1].id).toBe(sent.body.id);
    const inbox = await call('GET', '/v1/messages/conversations', tokens.alice!);
    const [first] = inbox.body.conversations;
    expect([first.id, first.last_message, first.unread_count]).toEqual([long, 'hello from the plan', 0]);
    expect(new Date(first.updated_at).getTime()).toBeGreaterThan(new Date('2020-01-02T00:00:00Z').getTime());

    const refused = await call('POST', messagesOf, tokens.outsider!, { content: 'let me in' });
    expect([refused.status, refused.body.error.code]).toEqual([404, 'not_found']);
    expect((await call('GET', `${messagesOf}?offset=120`, tokens.bob!)).body.messages).toHaveLength(1);
  });

  it("marks a conversation read: the caller's read mark and the others' messages, in two statements", async () => {
    const before = await call('GET', '/v1/messages/unread', tokens.bob!);
    expect(before.body.unreadCount).toBeGreaterThan(0);
    const read = await counted('PATCH', `/v1/messages/conversations/${long}/read`, tokens.bob!);
    expect(read.status).toBe(200);
    expect(read.body.lastReadAt).toEqual(expect.any(String));
    expect([read.statements, read.transactions]).toEqual([2, 2]);
    // The short conversation holds only Bob's own messages.
    expect((await call('GET', '/v1/messages/unread', tokens.bob!)).body).toEqual({
      unreadCount: 0,
      conversationCount: 0,
    });
    const page = await call('GET', `${messagesOf}?limit=4`, tokens.bob!);
    expect(page.body.messages.map((m: any) => [m.content, m.read_at !== null])).toEqual([
      ['m1', true],
      ['m2', false], // Bob's own
      ['m3', true],
      ['m4', false],
    ]);
    expect((await call('PATCH', `/v1/messages/conversations/${long}/read`, tokens.outsider!)).status).toBe(404);
  });
});
