/**
 * `npm run bench [-- --quick]`: seeds PostgreSQL (DATABASE_URL's server) at a tenth and at full
 * marketplace size, serves it with the local stack in its own process, loads each endpoint with
 * autocannon, and writes bench/results/<date>.json and BENCHMARKS.md.
 * --quick uses 1/1000 and 1/100 of the size and 2 s per scenario: it proves the benchmark runs.
 * At the largest size it also builds the plan's naive implementation (lib/bench/sql-bench.ts) in a
 * database of its own with the same data and runs both side by side with pgbench, in SQL alone,
 * and through the local stack: the plan's endpoints (lib/bench/plan-baseline/) behind the same
 * gateway in a process of their own, loaded with the same autocannon runner, interleaved with ours.
 * It also measures real-time delivery over WebSockets (lib/bench/realtime.ts).
 * --size xl seeds full size and ten times it (20 M messages; not for CI), measures the scaling
 * scenarios at both and writes bench/results/xl.json, which BENCHMARKS.md then reports.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { digestSweepBench } from '../lib/bench/digest-bench';
import { explainHotQueries } from '../lib/bench/explain';
import { type LambdaFigures, measureLambdas } from '../lib/bench/lambdas';
import { runRealtimeBench } from '../lib/bench/realtime';
import {
  type BenchResults,
  type PlanComparison,
  type RoundTrips,
  renderReport,
  type ScenarioFigures,
  type SizeComparison,
} from '../lib/bench/report';
import { conversationId, type DataSetSize, fullSize, scaled, seed, userId } from '../lib/bench/seed';
import { sendLoadOptions } from '../lib/bench/send-load';
import {
  createBaseline,
  type PagePosition,
  pagePositions,
  pgbench,
  pgbenchAvailable,
  runSqlBench,
  sqlScenarios,
} from '../lib/bench/sql-bench';
import { createDatabase } from '../lib/db/create-database';
import { migrateToLatest } from '../lib/db/migrate';
import { routeList } from '../lib/http/routes';
import { localAuthConfig, signLocalToken } from '../lib/local/local-auth';
import { MAX_RATE_LIMIT } from '../lib/messaging/limits';
import { signUnsubscribeToken } from '../lib/notifications/unsubscribe-token';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, size: { type: 'string' }, only: { type: 'string' } },
});
/**
 * `--only realtime,sql`: just those parts, at the largest size, for working on one of them. It
 * prints figures and writes the JSON to the temporary directory, never BENCHMARKS.md.
 */
const parts = ['http', 'sql', 'http-plan', 'realtime', 'lambdas', 'digests'] as const;
const only = args.only?.split(',').map((p) => p.trim());
for (const p of only ?? [])
  if (!(parts as readonly string[]).includes(p)) throw new Error(`--only takes ${parts.join(', ')}, not ${p}`);
const runs = (part: (typeof parts)[number]) => !only || only.includes(part);
const quick = args.quick ?? false;
const xl = args.size === 'xl';
if (args.size !== undefined && !xl) throw new Error(`--size takes only xl, not ${args.size}`);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const allSizes: DataSetSize[] = quick
  ? [scaled(fullSize, 0.001, 'tiny-tenth'), scaled(fullSize, 0.01, 'tiny')]
  : xl
    ? [fullSize, scaled(fullSize, 10, 'xl')]
    : [scaled(fullSize, 0.1, 'tenth'), fullSize];
const sizes = only && !runs('http') ? allSizes.slice(-1) : allSizes;
const durationSeconds = quick ? 2 : 10;
const warmupSeconds = quick ? 0.5 : 2;
/** Connections for the latency scenarios; the send throughput scenario uses 32 (one per user). */
const connections = 4;
const started = Date.now();
const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

const keyFile = join(tmpdir(), `messaging-bench-key-${randomUUID()}.json`);
/** The key of the stack's unsubscribe links, so the benchmark can make one to count the route's statements. */
const unsubscribeKey = randomUUID() + randomUUID();
const auth = localAuthConfig({ LOCAL_JWT_KEY_FILE: keyFile });
const token = (sub: string, groups: string[] = []) => signLocalToken(auth, { sub, groups, expiresInSeconds: 3600 });

/** BENCH_DATABASE_PREFIX and BENCH_PORT (default 4100) keep two benchmarks on one machine out of each other's databases and ports. */
const databasePrefix = process.env.BENCH_DATABASE_PREFIX ?? 'messaging_bench';
if (!/^[a-z_][a-z0-9_]*$/.test(databasePrefix))
  throw new Error(`BENCH_DATABASE_PREFIX must be a lower-case SQL name, not ${databasePrefix}`);

function databaseUrl(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function prepareDatabase(size: DataSetSize): Promise<{ url: string; seedSeconds: number }> {
  const name = `${databasePrefix}_${size.label.replace(/\W/g, '_')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = databaseUrl(name);
  const handle = await createDatabase({ kind: 'postgres', connectionString: url, poolSize: 1 });
  await migrateToLatest(handle.db);
  await handle.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t = Date.now();
  log(`seeding ${size.label}: ${size.users} users, ${size.conversations} conversations, ${size.messages} messages`);
  await seed(client, size, log);
  await client.end();
  return { url, seedSeconds: (Date.now() - t) / 1000 };
}

async function databaseBytes(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
  await client.end();
  return Number(rows[0]!.bytes);
}

/**
 * A local stack in its own process: bin/start.ts (ours) or bin/start-plan.ts (the plan's), up once
 * it prints `ready`; `settings` are further environment variables (the real-time comparison's).
 */
async function startServer(
  script: string,
  ready: string,
  url: string,
  port: number,
  settings: Record<string, string> = {},
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: '20',
      PORT: String(port),
      LOG_LEVEL: 'error',
      LOCAL_JWT_KEY_FILE: keyFile,
      UNSUBSCRIBE_KEY: unsubscribeKey,
      // The per-user limiters still run their SQL on every write, but must not refuse the load
      // test, and must keep what they keep in production: each keeps a log of the user's actions
      // in its window, which the production limits cap at 20 to 60 entries. A limit no load here
      // reaches over the default window (10 s for sends) let a load test's user, sending 15 a
      // second, carry 150 and rewrite them on every send; over a window of 1 s it carries about
      // 15, under the production cap of 20. (The upload scenario's one user, at some 500 requests
      // a second, still carries what it did in the last second: far fewer than over 60 s, and
      // under MAX_RATE_LIMIT, the highest limit the configuration takes.)
      ...Object.fromEntries(
        ['SEND', 'CREATE_CONVERSATION', 'ADD_PARTICIPANT', 'ATTACHMENT'].flatMap((action) => [
          [`${action}_RATE_LIMIT`, String(MAX_RATE_LIMIT)],
          [`${action}_RATE_WINDOW_SECONDS`, '1'],
        ]),
      ),
      LOCAL_S3_DIRECTORY: join(tmpdir(), `bench-s3-${port}`),
      ...settings,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes(ready)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return child;
}

async function roundTrips(base: string): Promise<RoundTrips> {
  return (await (await fetch(`${base}/local/stats`)).json()) as RoundTrips;
}

async function stats(base: string): Promise<number> {
  const s = await roundTrips(base);
  return s.statements + s.transactions;
}

interface Scenario {
  name: string;
  route: string;
  method: string;
  /** Builds each request's path (and body); called per request. */
  path: () => string;
  body?: () => string;
  tokens: string[];
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** What one autocannon run saw: every response's latency and status, and the failures it counted. */
interface LoadSample {
  latencies: number[];
  statuses: Record<string, number>;
  errors: number;
  seconds: number;
}

/** A discarded run: JIT, connection pools and PostgreSQL's caches reach steady state. */
async function warmUp(options: autocannon.Options): Promise<void> {
  await new Promise<autocannon.Result>((resolve, reject) => {
    autocannon({ ...options, duration: warmupSeconds }, (error, out) => (error ? reject(error) : resolve(out)));
  });
}

/** Runs autocannon and measures every response itself (autocannon's histogram has no p95); warmed up first unless told. */
async function sample(options: autocannon.Options, seconds: number, warm = true): Promise<LoadSample> {
  if (warm) await warmUp(options);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...options, duration: seconds }, (error, out) =>
      error ? reject(error) : resolve(out),
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      latencies.push(responseTime);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
  });
  return { latencies, statuses, errors: result.errors + result.timeouts + result.non2xx, seconds };
}

/** The figures of one or more samples of the same scenario, pooled: every response, every second. */
function figuresOf(name: string, route: string, samples: LoadSample[], connectionCount: number): ScenarioFigures {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const statuses: Record<string, number> = {};
  for (const s of samples)
    for (const [status, count] of Object.entries(s.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
  return {
    name,
    route,
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    statuses,
    connections: connectionCount,
  };
}

async function measure(
  name: string,
  route: string,
  options: autocannon.Options,
  seconds: number,
): Promise<ScenarioFigures> {
  return figuresOf(name, route, [await sample(options, seconds)], options.connections ?? 1);
}

function load(base: string, scenario: Scenario, seconds: number): Promise<ScenarioFigures> {
  return measure(scenario.name, scenario.route, loadOptions(base, scenario), seconds);
}

/** autocannon's options for a scenario: its requests, and its callers' tokens spread over the connections. */
function loadOptions(base: string, scenario: Scenario): autocannon.Options {
  let next = 0;
  return {
    url: base,
    connections,
    requests: [
      {
        method: scenario.method as 'GET',
        setupRequest: (request) => ({
          ...request,
          path: scenario.path(),
          ...(scenario.body
            ? { body: scenario.body(), headers: { ...request.headers, 'content-type': 'application/json' } }
            : {}),
        }),
      },
    ],
    setupClient: (client) => {
      client.setHeaders({ authorization: `Bearer ${scenario.tokens[next++ % scenario.tokens.length]}` });
    },
  };
}

/** Each connection is one user sending into a conversation of their own. */
function sendOptions(base: string, senders: Sender[]): autocannon.Options {
  let counter = 0;
  return sendLoadOptions(base, senders, () => `load test message ${counter++}`);
}

const sendName = (senders: Sender[]) => `send, ${senders.length} concurrent users`;

function sendLoad(base: string, senders: Sender[], seconds: number): Promise<ScenarioFigures> {
  return measure(sendName(senders), 'send-message', sendOptions(base, senders), seconds);
}

/** One size's running stack and the load it is measured with. */
interface SizedStack {
  base: string;
  scenarios: Record<string, Scenario>;
  senders: Sender[];
}

/** The scenarios whose p95 is compared across sizes. */
const scalingKeys = ['inboxHeavy', 'deepPage', 'latestPage', 'unreadHeavy', 'send'];
/** Rounds of the comparison across sizes: each side gets durationSeconds in all. */
const scalingRounds = quick ? 2 : 5;

/**
 * The scaling scenarios on both sizes' stacks, each warmed up, then in rounds that alternate which
 * size goes first, each side's rounds pooled (as the comparisons with the plan are). Measured one
 * size after the other, minutes apart, the ratio carried the host's drift: in the run of
 * 2026-12-03 17:04 the full size's inbox measured 16.7 ms p95, and 12.2 ms eight minutes later
 * with the same data and stack.
 */
async function compareSizes(smaller: SizedStack, larger: SizedStack): Promise<SizeComparison> {
  const secondsPerRound = durationSeconds / scalingRounds;
  const comparison: SizeComparison = { rounds: scalingRounds, secondsPerRound, smaller: [], larger: [] };
  for (const key of scalingKeys) {
    const sides = [smaller, larger].map((stack) =>
      key === 'send'
        ? { name: sendName(stack.senders), route: 'send-message', options: sendOptions(stack.base, stack.senders) }
        : {
            name: stack.scenarios[key]!.name,
            route: stack.scenarios[key]!.route,
            options: loadOptions(stack.base, stack.scenarios[key]!),
          },
    );
    for (const side of sides) await warmUp(side.options);
    const samples: LoadSample[][] = [[], []];
    for (let round = 0; round < scalingRounds; round++)
      for (const i of round % 2 ? [1, 0] : [0, 1])
        samples[i]!.push(await sample(sides[i]!.options, secondsPerRound, false));
    const [a, b] = sides.map((side, i) => ({
      ...figuresOf(side.name, side.route, samples[i]!, side.options.connections ?? 1),
      key,
    }));
    comparison.smaller.push(a!);
    comparison.larger.push(b!);
    log(
      `scaling ${b!.name}: p95 ${a!.p95.toFixed(1)} ms → ${b!.p95.toFixed(1)} ms (${(b!.p95 / a!.p95).toFixed(2)} ×)`,
    );
  }
  return comparison;
}

async function conversationMembers(url: string, conversation: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ user_id: string }>(
    'SELECT user_id FROM conversation_participants WHERE conversation_id = $1 ORDER BY user_id',
    [conversation],
  );
  await client.end();
  return rows.map((r) => r.user_id);
}

async function messageIds(url: string, conversation: string, count: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ id: string }>(
    `SELECT id FROM messages WHERE conversation_id = $1 ORDER BY random() LIMIT $2`,
    [conversation, count],
  );
  await client.end();
  return rows.map((r) => r.id);
}

/**
 * One to three reactions on every tenth message (by a hash of its id), as people react in a busy
 * marketplace, that can be taken away and put back: the messages chosen are kept in a table of the
 * benchmark's own, so that taking them away leaves the reactions the scenarios added untouched.
 */
async function reactionsOnTenPercent(
  url: string,
): Promise<{ count: number; add(): Promise<void>; remove(): Promise<void>; drop(): Promise<void> }> {
  const [chosen] = await statements(
    url,
    `CREATE TABLE bench_reacted AS
     SELECT id, (
       SELECT jsonb_agg(jsonb_build_object('emoji', e.emoji, 'users', jsonb_build_array(coalesce(m.sender_id::text, 'system'))) ORDER BY e.n)
         FROM (VALUES (1, '👍'), (2, '🎉'), (3, '😀')) AS e (n, emoji)
        WHERE e.n <= 1 + (hashtext(m.id::text) & 1) + (hashtext(m.id::text) >> 1 & 1)) AS reactions
       FROM messages m
      WHERE hashtext(m.id::text) % 10 = 0 AND m.deleted_at IS NULL AND m.reactions IS NULL`,
    // The write scenarios ran just before: the first state is read vacuumed too.
    'VACUUM ANALYZE messages',
    'CHECKPOINT',
  );
  // Vacuumed after each change, as autovacuum would (it is off on this machine), so both states
  // are read with their visibility map and statistics up to date; then a checkpoint, so that
  // writing out what the change dirtied (most of the table: every tenth message) does not overlap
  // the next reads, as a checkpoint that max_wal_size or the timeout starts would.
  const set = async (reactions: string) => {
    await statements(
      url,
      `UPDATE messages m SET reactions = ${reactions} FROM bench_reacted r WHERE r.id = m.id`,
      'VACUUM ANALYZE messages',
      'CHECKPOINT',
    );
  };
  return {
    count: chosen!.rowCount ?? 0,
    add: () => set('r.reactions'),
    remove: () => set('NULL'),
    drop: async () => {
      await statements(url, 'DROP TABLE bench_reacted');
    },
  };
}

/** Runs statements one after the other on a connection of their own; their results, in order. */
async function statements(url: string, ...sql: string[]): Promise<pg.QueryResult[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const results: pg.QueryResult[] = [];
    for (const statement of sql) results.push(await client.query(statement));
    return results;
  } finally {
    await client.end();
  }
}

/**
 * Issue 14: the reads that return messages, without and with reactions on 10 % of the messages,
 * in four rounds (without then with, with then without, and again: five changes of the reactions,
 * each after the side that was on had its turns), each side's rounds pooled. Measured minutes apart instead, with the write
 * scenarios between, the ratio followed the host's mood: 0.96–1.04 × on one machine, 1.28–2.47 ×
 * on another, where the same reads on one database with the reactions put and taken back in a loop
 * differed by less than the noise. With two rounds (one change each way) the ratio still ranged
 * 0.74–1.51 × over the runs of 2026-12-03 and 04 with the same code: one state's rounds fell in one
 * stretch of the host's speed.
 */
async function reactionComparison(
  base: string,
  url: string,
  scenarios: Record<string, Scenario>,
  seconds: number,
): Promise<ScenarioFigures[]> {
  const reads = ['inboxHeavy', 'deepPage', 'latestPage'];
  const rounds = 4;
  const reactions = await reactionsOnTenPercent(url);
  log(`reactions on 10 % of the messages: ${reactions.count.toLocaleString('en')} messages, ${rounds} rounds`);
  const samples = new Map<string, LoadSample[]>();
  const take = async (key: string, state: string) => {
    const taken = await sample(loadOptions(base, scenarios[key]!), seconds / rounds);
    samples.set(`${key}${state}`, [...(samples.get(`${key}${state}`) ?? []), taken]);
  };
  // Without, with | with, without | …: each side goes first in half the rounds, so a drift in the
  // machine's speed lands on both. The reactions stay on at the end, for what the run measures after this.
  let on = false;
  for (let round = 0; round < rounds; round++) {
    for (const withReactions of round % 2 === 0 ? [false, true] : [true, false]) {
      if (withReactions !== on) await (withReactions ? reactions.add() : reactions.remove());
      on = withReactions;
      for (const key of reads) await take(key, withReactions ? 'WithReactions' : 'WithoutReactions');
    }
  }
  if (!on) await reactions.add();
  await reactions.drop();
  return reads.flatMap((key) =>
    (['WithoutReactions', 'WithReactions'] as const).map((state) => {
      const { name, route } = scenarios[key]!;
      const label = state === 'WithReactions' ? 'with' : 'without';
      const figure = figuresOf(
        `${name}, ${label} reactions on 10 % of messages`,
        route,
        samples.get(`${key}${state}`)!,
        connections,
      );
      figure.key = `${key}${state}`;
      return figure;
    }),
  );
}

/** Messages one user sent in a conversation (what they may edit). */
async function ownMessageIds(url: string, conversation: string, sender: string, count: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ id: string }>(
    `SELECT id FROM messages WHERE conversation_id = $1 AND sender_id = $2 LIMIT $3`,
    [conversation, sender, count],
  );
  await client.end();
  return rows.map((r) => r.id);
}

interface Sender {
  id: string;
  token: string;
  conversation: string;
}

/**
 * A checked attachment, sent in a message, through the stack as an app makes one: presign, PUT
 * to the local S3 endpoint, the check on its ObjectCreated, a send naming it.
 */
async function sentAttachment(base: string, sender: Sender): Promise<string> {
  const c = `${base}/v1/messages/conversations/${sender.conversation}`;
  const headers = { authorization: `Bearer ${sender.token}`, 'content-type': 'application/json' };
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(40_000, 3)]);
  const started = await fetch(`${c}/attachments`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ filename: 'sink.png', contentType: 'image/png', size: png.length }),
  });
  const { id, upload } = (await started.json()) as {
    id: string;
    upload: { url: string; headers: Record<string, string> };
  };
  const put = await fetch(upload.url, {
    method: 'PUT',
    headers: { 'Content-Type': 'image/png', 'If-None-Match': '*' },
    body: png,
  });
  if (put.status !== 200) throw new Error(`upload answered ${put.status}`);
  for (let attempt = 0; ; attempt++) {
    const sent = await fetch(`${c}/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ attachmentIds: [id] }),
    });
    if (sent.status === 201) return id;
    if (sent.status !== 409 || attempt > 100) throw new Error(`sending the attachment answered ${sent.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function scenariosFor(
  size: DataSetSize,
  url: string,
  base: string,
): Promise<{ scenarios: Record<string, Scenario>; senders: Sender[] }> {
  const heavy = userId(1);
  const heavyToken = await token(heavy);
  const admin = await token(randomUUID(), ['admin']);
  // Ordinary users and one of their conversations each: user u is a member of conversation g when
  // (g * 31) % users + 1 = u, the first member the seed picks.
  const ordinary = await Promise.all(
    Array.from({ length: 32 }, async (_, i) => {
      const spread = size.conversations - size.longConversations;
      let g = size.longConversations + 1 + ((i * 7) % spread);
      if (g % 50 === 0) g = g > size.longConversations + 1 ? g - 1 : g + 1; // the seed closes every 50th conversation

      const u = ((g * 31) % size.users) + 1;
      return { id: userId(u), token: await token(userId(u)), conversation: conversationId(g) };
    }),
  );
  const long = conversationId(1);
  const longMember = ((1 * 31) % size.users) + 1;
  const longToken = await token(userId(longMember));
  const deep = await messageIds(url, long, 500);
  const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)]!;
  // The message lifecycle runs in the other long conversations, so pages of the first stay as seeded.
  const reacting = conversationId(Math.min(2, size.longConversations));
  const reactingMember = userId(((Math.min(2, size.longConversations) * 31) % size.users) + 1);
  const reactingToken = await token(reactingMember);
  const reactable = await messageIds(url, reacting, 20_000);
  const deletable = await messageIds(url, conversationId(Math.min(3, size.longConversations)), 20_000);
  const editable = await ownMessageIds(url, reacting, reactingMember, 50);
  if (editable.length === 0) throw new Error(`the seed gave ${reactingMember} no message in ${reacting} to edit`);
  let deleted = 0;
  const c = '/v1/messages/conversations';
  const uploader = ordinary[0]!;
  const attachment = await sentAttachment(base, uploader);
  // Uploads by every member of the uploader's conversation, a connection each in turn: one user
  // alone, at some 900 requests a second on a fast day, went past MAX_RATE_LIMIT in a second.
  const uploaders = await Promise.all((await conversationMembers(url, uploader.conversation)).map((m) => token(m)));
  const scenarios: Record<string, Scenario> = {
    inboxHeavy: {
      name: 'inbox, heavy user',
      route: 'list-conversations',
      method: 'GET',
      path: () => `${c}?limit=20`,
      tokens: [heavyToken],
    },
    inbox: {
      name: 'inbox, ordinary users',
      route: 'list-conversations',
      method: 'GET',
      path: () => `${c}?limit=20`,
      tokens: ordinary.map((o) => o.token),
    },
    getConversation: {
      name: 'get conversation',
      route: 'get-conversation',
      method: 'GET',
      path: () => `${c}/${long}`,
      tokens: [longToken],
    },
    latestPage: {
      name: 'message page, newest',
      route: 'list-messages',
      method: 'GET',
      path: () => `${c}/${long}/messages?limit=50`,
      tokens: [longToken],
    },
    deepPage: {
      name: 'message page, anywhere in a long conversation',
      route: 'list-messages',
      method: 'GET',
      path: () => `${c}/${long}/messages?limit=50&before=${pick(deep)}`,
      tokens: [longToken],
    },
    unreadHeavy: {
      name: 'unread total, heavy user',
      route: 'get-unread-total',
      method: 'GET',
      path: () => '/v1/messages/unread',
      tokens: [heavyToken],
    },
    adminList: {
      name: 'admin list, active',
      route: 'admin-list-conversations',
      method: 'GET',
      path: () => `/v1/admin/messages/conversations?status=active&limit=20`,
      tokens: [admin],
    },
    adminGet: {
      name: 'admin get conversation',
      route: 'admin-get-conversation',
      method: 'GET',
      path: () => `/v1/admin/messages/conversations/${long}`,
      tokens: [admin],
    },
    markMessageRead: {
      name: 'mark a message read',
      route: 'mark-message-read',
      method: 'PATCH',
      path: () => `/v1/messages/${pick(deep)}/read`,
      tokens: [longToken],
    },
    markConversationRead: {
      name: 'mark a conversation read',
      route: 'mark-conversation-read',
      method: 'PATCH',
      path: () => `${c}/${long}/read`,
      tokens: [longToken],
    },
    addParticipant: {
      name: 'add a participant (already there)',
      route: 'add-participant',
      method: 'POST',
      path: () => `${c}/${long}/participants`,
      body: () => JSON.stringify({ userId: userId(longMember) }),
      tokens: [longToken],
    },
    adminSetStatus: {
      name: 'admin sets a conversation active (no change)',
      route: 'admin-set-conversation-status',
      method: 'PATCH',
      path: () => `/v1/admin/messages/conversations/${long}`,
      body: () => JSON.stringify({ status: 'active' }),
      tokens: [admin],
    },
    editMessage: {
      name: 'edit a message (new content each time)',
      route: 'edit-message',
      method: 'PATCH',
      path: () => `/v1/messages/${pick(editable)}`,
      body: () => JSON.stringify({ content: `edited ${Math.random()}` }),
      tokens: [reactingToken],
    },
    addReaction: {
      name: 'react to a message',
      route: 'add-reaction',
      method: 'PUT',
      path: () =>
        `/v1/messages/${pick(reactable)}/reactions/${encodeURIComponent(pick(['👍', '🎉', '😀', '❤️', '👀']))}`,
      tokens: [reactingToken],
    },
    deleteMessage: {
      name: 'delete a message (an admin, each a different one)',
      route: 'delete-message',
      method: 'DELETE',
      path: () => `/v1/messages/${deletable[deleted++ % deletable.length]}`,
      tokens: [admin],
    },
    createConversation: {
      name: 'create a conversation',
      route: 'create-conversation',
      method: 'POST',
      path: () => c,
      body: () => JSON.stringify({ type: 'support', subject: 'Help', participantIds: [userId(2)] }),
      tokens: ordinary.map((o) => o.token),
    },
    createAttachment: {
      name: 'start an upload (presigned PUT)',
      route: 'create-attachment',
      method: 'POST',
      path: () => `${c}/${uploader.conversation}/attachments`,
      body: () => JSON.stringify({ filename: 'quote.pdf', contentType: 'application/pdf', size: 180_000 }),
      tokens: uploaders,
    },
    getAttachment: {
      name: 'download an attachment (presigned GET)',
      route: 'get-attachment',
      method: 'GET',
      path: () => `/v1/messages/attachments/${attachment}`,
      tokens: [uploader.token],
    },
  };
  return { scenarios, senders: ordinary };
}

/**
 * Removing a participant cannot repeat on its own, so it is timed one request at a time: a member
 * leaves (timed), then an admin adds them back (not timed).
 */
async function removeParticipantLatency(base: string, who: Sender, seconds: number): Promise<ScenarioFigures> {
  const admin = await token(randomUUID(), ['admin']);
  const member = JSON.parse(Buffer.from(who.token.split('.')[1]!, 'base64url').toString()).sub as string;
  const path = `/v1/messages/conversations/${who.conversation}/participants`;
  const latencies: number[] = [];
  let errors = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const started = performance.now();
    const left = await fetch(`${base}${path}/${member}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${who.token}` },
    });
    latencies.push(performance.now() - started);
    await left.arrayBuffer();
    const back = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: member }),
    });
    await back.arrayBuffer();
    if (left.status !== 204 || back.status !== 201) errors += 1;
  }
  latencies.sort((a, b) => a - b);
  return {
    name: 'remove a participant (one connection, re-added between)',
    route: 'remove-participant',
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    errors,
    connections: 1,
  };
}

/** What one request costs in statements and transactions, read from the server's data layer after a warm one. */
async function countRoundTrips(base: string, scenario: Scenario): Promise<RoundTrips> {
  const once = async () => {
    const headers: Record<string, string> = { authorization: `Bearer ${scenario.tokens[0]}` };
    const body = scenario.body?.();
    if (body) headers['content-type'] = 'application/json';
    const response = await fetch(`${base}${scenario.path()}`, { method: scenario.method, headers, body });
    await response.arrayBuffer();
    if (response.status >= 400)
      throw new Error(`${scenario.route} answered ${response.status} while counting statements`);
  };
  await once(); // warm: the caller is recorded once per container
  const before = await roundTrips(base);
  await once();
  const after = await roundTrips(base);
  return { statements: after.statements - before.statements, transactions: after.transactions - before.transactions };
}

/**
 * Before their speeds are compared, both sides must answer alike from the same data: the same
 * unread total, the same 50 messages at each page position. A drift in the copy, the seed or
 * either side's handlers fails the run here instead of comparing against something else.
 */
async function checkSameAnswers(
  bases: { ours: string; plan: string },
  compared: Array<{ key: string; ours: Scenario; plan: Scenario }>,
) {
  const answer = async (base: string, s: Scenario) => {
    const response = await fetch(`${base}${s.path()}`, { headers: { authorization: `Bearer ${s.tokens[0]}` } });
    if (!response.ok) throw new Error(`${s.route} answered ${response.status} at ${base}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  // An empty page or a missing total would match its like on the other side: neither counts.
  const ids = (list: unknown) => {
    const found = (list as Array<{ id: string }>).map((m) => m.id);
    return found.length ? found.join(',') : undefined;
  };
  for (const c of compared) {
    const what = c.key === 'unreadHeavy' ? 'the unread total' : c.key.startsWith('page') ? c.ours.name : undefined;
    if (!what) continue;
    const [ours, plan] = await Promise.all([answer(bases.ours, c.ours), answer(bases.plan, c.plan)]);
    const same =
      c.key === 'unreadHeavy'
        ? typeof ours.unreadCount === 'number' && ours.unreadCount === plan.unreadCount
        : ids(ours.items) !== undefined && ids(ours.items) === ids(plan.messages);
    if (!same) throw new Error(`ours and the plan's baseline disagree on ${what}`);
  }
}

/**
 * Ours against the plan's naive endpoints (lib/bench/plan-baseline/) through the local stack: the
 * plan's handlers serve the plan's database from a process of their own behind the same gateway,
 * each scenario runs on both with the same autocannon runner, the two sides alternating which goes
 * first, and one request of each is counted in statements and transactions.
 */
async function compareWithPlanThroughStack(
  where: { base: string; planDatabaseUrl: string; planPort: number },
  scenarios: Record<string, Scenario>,
  senders: Sender[],
  pages: PagePosition[],
): Promise<PlanComparison[]> {
  const planServer = await startServer(
    'bin/start-plan.ts',
    'Plan baseline API on',
    where.planDatabaseUrl,
    where.planPort,
  );
  const bases = { ours: where.base, plan: `http://127.0.0.1:${where.planPort}` };
  const messagesOf = `/v1/messages/conversations/${conversationId(1)}/messages`;
  const sendOne = senders[0]!;
  // The plan's routes have the service's paths; only the message pages ask differently (an offset).
  const compared: Array<{ key: string; ours: Scenario; plan: Scenario }> = [
    ...['inboxHeavy', 'unreadHeavy'].map((key) => ({ key, ours: scenarios[key]!, plan: scenarios[key]! })),
    ...pages.map((p) => {
      const page = { ...scenarios.latestPage!, name: p.name };
      return {
        key: p.key,
        ours: { ...page, path: () => `${messagesOf}?limit=50${p.before ? `&before=${p.before}` : ''}` },
        plan: { ...page, path: () => `${messagesOf}?limit=50&offset=${p.offset}` },
      };
    }),
    { key: 'markConversationRead', ours: scenarios.markConversationRead!, plan: scenarios.markConversationRead! },
  ];
  // Sending is loaded by sendLoad (one user per connection); this one request is what gets counted.
  const send: Scenario = {
    name: `send, ${senders.length} concurrent users`,
    route: 'send-message',
    method: 'POST',
    path: () => `/v1/messages/conversations/${sendOne.conversation}/messages`,
    body: () => JSON.stringify({ content: 'counting' }),
    tokens: [sendOne.token],
  };
  compared.push({ key: 'send', ours: send, plan: send });
  const out: PlanComparison[] = [];
  try {
    await checkSameAnswers(bases, compared);
    for (const [index, c] of compared.entries()) {
      const run = async (side: 'ours' | 'plan') => {
        const figure =
          c.key === 'send'
            ? await sendLoad(bases[side], senders, durationSeconds)
            : await load(bases[side], c[side], durationSeconds);
        if (side === 'plan') figure.route = `plan-${figure.route}`;
        return figure;
      };
      const order: Array<'ours' | 'plan'> = index % 2 === 0 ? ['ours', 'plan'] : ['plan', 'ours'];
      const figures: Partial<Record<'ours' | 'plan', ScenarioFigures>> = {};
      for (const side of order) figures[side] = await run(side);
      const comparison: PlanComparison = {
        key: c.key,
        name: c.ours.name,
        ours: figures.ours!,
        plan: figures.plan!,
        roundTrips: {
          ours: await countRoundTrips(bases.ours, c.ours),
          plan: await countRoundTrips(bases.plan, c.plan),
        },
      };
      out.push(comparison);
      const { ours, plan, roundTrips } = comparison;
      log(
        `stack ${c.ours.name}: ours p50 ${ours.p50.toFixed(1)} / p95 ${ours.p95.toFixed(1)} ms, ${ours.rps.toFixed(0)} req/s; ` +
          `plan p50 ${plan.p50.toFixed(1)} / p95 ${plan.p95.toFixed(1)} ms, ${plan.rps.toFixed(0)} req/s; ` +
          `statements ${roundTrips.ours.statements}+${roundTrips.ours.transactions} / ${roundTrips.plan.statements}+${roundTrips.plan.transactions}` +
          (ours.errors || plan.errors
            ? `; errors ours ${ours.errors}, plan ${plan.errors} ${JSON.stringify(plan.statuses)}`
            : ''),
      );
    }
  } finally {
    planServer.kill('SIGTERM');
  }
  return out;
}

/** Statements one request costs, per endpoint, read from the server's data layer. */
async function statementsPerRequest(base: string, scenarios: Record<string, Scenario>, ordinary: Sender[]) {
  const counts: Record<string, number> = {};
  const once = async (method: string, path: string, tokenValue: string, body?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${tokenValue}` };
    if (body) headers['content-type'] = 'application/json';
    const response = await fetch(`${base}${path}`, { method, headers, body });
    await response.arrayBuffer();
    return response.status;
  };
  const measure = async (route: string, method: string, path: string, tokenValue: string, body?: string) => {
    await once(method, path, tokenValue, body); // warm: the caller is recorded once per container
    const before = await stats(base);
    const status = await once(method, path, tokenValue, body);
    counts[route] = (await stats(base)) - before;
    if (status >= 400) throw new Error(`${route} answered ${status} while counting statements`);
  };
  for (const s of Object.values(scenarios)) {
    if (counts[s.route] !== undefined) continue;
    await measure(s.route, s.method, s.path(), s.tokens[0]!, s.body?.());
  }
  const who = ordinary[0]!;
  await measure(
    'send-message',
    'POST',
    `/v1/messages/conversations/${who.conversation}/messages`,
    who.token,
    JSON.stringify({ content: 'counting' }),
  );
  // Leave and rejoin: the admin adds the member back.
  const admin = await token(randomUUID(), ['admin']);
  const leaver = ordinary[1]!;
  const leaverId = JSON.parse(Buffer.from(leaver.token.split('.')[1]!, 'base64url').toString()).sub as string;
  await once('GET', '/v1/messages/unread', leaver.token);
  await once('GET', '/v1/messages/unread', admin);
  const before = await stats(base);
  await once('DELETE', `/v1/messages/conversations/${leaver.conversation}/participants/${leaverId}`, leaver.token);
  counts['remove-participant'] = (await stats(base)) - before;
  await once(
    'POST',
    `/v1/messages/conversations/${leaver.conversation}/participants`,
    admin,
    JSON.stringify({ userId: leaverId }),
  );
  // The rest of the lifecycle, on a message of its own.
  const sent = await fetch(`${base}/v1/messages/conversations/${who.conversation}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content: 'to unread, un-react and inspect' }),
  });
  const message = ((await sent.json()) as { id: string }).id;
  const emoji = encodeURIComponent('👍');
  await once('PUT', `/v1/messages/${message}/reactions/${emoji}`, who.token);
  await measure('remove-reaction', 'DELETE', `/v1/messages/${message}/reactions/${emoji}`, who.token);
  await measure('mark-message-unread', 'PATCH', `/v1/messages/${message}/unread`, who.token);
  await measure('admin-list-message-versions', 'GET', `/v1/admin/messages/${message}/versions`, admin);
  // Profiles and notifications.
  await measure('get-profile', 'GET', '/v1/me', who.token);
  await measure('update-profile', 'PATCH', '/v1/me', who.token, JSON.stringify({ displayName: 'Bench User' }));
  await measure(
    'set-conversation-notifications',
    'PATCH',
    `/v1/messages/conversations/${who.conversation}/notifications`,
    who.token,
    JSON.stringify({ muted: false }),
  );
  const link = `/v1/notifications/unsubscribe?token=${encodeURIComponent(
    await signUnsubscribeToken(new TextEncoder().encode(unsubscribeKey), who.id),
  )}`;
  await measure('unsubscribe', 'POST', link, who.token);
  await measure('unsubscribe-page', 'GET', link, who.token);
  return counts;
}

/** A failed request fails the run: a scenario, ours or the plan's, that answers errors measures nothing. */
function failOnErrors(results: BenchResults) {
  const errors = [
    ...results.sizes.flatMap((s) => s.scenarios),
    ...(results.planThroughStack ?? []).flatMap((c) => [c.ours, c.plan]),
  ].reduce((sum, f) => sum + f.errors, 0);
  if (errors) throw new Error(`${errors} requests failed during the benchmark`);
}

/**
 * A fixed single-core workload (10⁸ integer steps), best of 3, in ms: this machine's speed moves
 * from day to day by up to 3 ×, and a run's figures mean little without it.
 */
/**
 * A fresh Node process that loads node:http and exits, median of 5 (wall time): what every cold
 * start pays before our code, which the cold-init figures (the import alone) leave out. Neither
 * probe sees every slowdown of this host: the same bundles' cold imports took 69-75 ms at 13:30
 * one day and 170-231 ms in the run of 14:19, with the loop at 42 and 44 ms and this probe at 67 ms.
 */
function processStartMs(): number {
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    execFileSync(process.execPath, ['-e', "require('node:http')"]);
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[2]!;
}

function singleCoreLoopMs(): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    let x = 0;
    for (let i = 0; i < 100_000_000; i++) x = (x + i * 7) | 0;
    best = Math.min(best, performance.now() - started);
    if (x === 1) log('(the loop result is used, so it is not optimised away)');
  }
  return best;
}

/**
 * The commit the run measured, `-modified` when the work tree differed from it: a recorded run
 * that the code has moved past says so in BENCHMARKS.md.
 */
function codeVersion(): string | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
    return changed ? `${commit}-modified` : commit;
  } catch {
    return undefined;
  }
}

async function main() {
  const results: BenchResults = {
    date: new Date().toISOString(),
    commit: codeVersion(),
    quick,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      postgres: '',
    },
    sizes: [],
    statements: {},
    explain: {},
    lambdas: [] as LambdaFigures[],
    durationSeconds,
    connections,
  };
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  results.machine.postgres = (await admin.query<{ server_version: string }>('SHOW server_version'))
    .rows[0]!.server_version;
  await admin.end();
  results.machine.speed = {
    loopMs: singleCoreLoopMs(),
    selectOneMs: pgbenchAvailable() ? (await pgbench(serverUrl, 'SELECT 1;\n', 1, 2, 1)).p50 : undefined,
    processStartMs: processStartMs(),
  };
  log(
    `machine speed: loop ${results.machine.speed.loopMs.toFixed(0)} ms, SELECT 1 ${results.machine.speed.selectOneMs?.toFixed(3) ?? '-'} ms, process start ${results.machine.speed.processStartMs?.toFixed(0)} ms`,
  );

  // Every size's stack, stopped when the last size is done (and on failure, when the process exits).
  const servers: ChildProcess[] = [];
  process.once('exit', () => {
    for (const server of servers) server.kill('SIGTERM');
  });
  let smaller: SizedStack | undefined;
  for (const [index, size] of sizes.entries()) {
    const isFull = index === sizes.length - 1;
    const { url, seedSeconds } = await prepareDatabase(size);
    log(`seeded ${size.label} in ${seedSeconds.toFixed(1)} s`);
    const port = Number(process.env.BENCH_PORT ?? 4100) + index;
    const server = await startServer('bin/start.ts', 'Messaging API on', url, port);
    servers.push(server);
    const base = `http://127.0.0.1:${port}`;
    {
      const { scenarios, senders } = await scenariosFor(size, url, base);
      const figures: ScenarioFigures[] = [];
      // The smaller size's stack waits for the larger one: the scaling scenarios run on both, in
      // alternating rounds (compareSizes). At full size every endpoint runs on its own as well.
      if (!isFull) smaller = { base, scenarios, senders };
      const names = runs('http') && isFull && !xl ? [...Object.keys(scenarios), 'removeParticipant', 'send'] : [];
      for (const name of names) {
        const figure =
          name === 'send'
            ? await sendLoad(base, senders, durationSeconds)
            : name === 'removeParticipant'
              ? await removeParticipantLatency(base, senders[2]!, durationSeconds)
              : await load(base, scenarios[name]!, durationSeconds);
        figure.key = name;
        figures.push(figure);
        log(
          `${size.label} ${figure.name}: p50 ${figure.p50.toFixed(1)} ms, p95 ${figure.p95.toFixed(1)} ms, p99 ${figure.p99.toFixed(1)} ms, ` +
            `${figure.rps.toFixed(0)} req/s, errors ${figure.errors}${figure.errors ? ` ${JSON.stringify(figure.statuses)}` : ''}`,
        );
      }
      if (isFull && !xl && runs('http')) {
        for (const figure of await reactionComparison(base, url, scenarios, durationSeconds)) {
          figures.push(figure);
          log(`${size.label} ${figure.name}: p50 ${figure.p50.toFixed(1)} ms, p95 ${figure.p95.toFixed(1)} ms`);
        }
      }
      if (isFull && smaller && runs('http')) {
        log(`the scaling scenarios at ${sizes[0]!.label} and ${size.label}, in alternating rounds`);
        results.scaling = await compareSizes(smaller, { base, scenarios, senders });
      }
      results.sizes.push({ size, seedSeconds, scenarios: figures, databaseBytes: await databaseBytes(url) });
      if (isFull && !xl) {
        const comparesWithPlan = runs('sql') || runs('http-plan');
        if (comparesWithPlan && !pgbenchAvailable()) {
          log('pgbench not found (nor, with it, psql): the comparisons with the plan are skipped');
        } else if (comparesWithPlan) {
          log("building the plan's naive baseline with the same data");
          const planUrl = await createBaseline(
            serverUrl,
            `${databasePrefix}_plan_${size.label.replace(/\W/g, '_')}`,
            url,
            log,
          );
          // Through the stack first, while both databases hold the same data: pgbench's sends go to
          // different random conversations on each side, and the answers are compared before loading.
          if (runs('http-plan')) {
            log("the plan's endpoints through the local stack, side by side with ours");
            // The plan's stack listens past every size's own port.
            const planPort = Number(process.env.BENCH_PORT ?? 4100) + allSizes.length;
            results.planThroughStack = await compareWithPlanThroughStack(
              { base, planDatabaseUrl: planUrl, planPort },
              scenarios,
              senders,
              await pagePositions(size, url),
            );
          }
          if (runs('sql'))
            results.sql = await runSqlBench(
              await sqlScenarios(size, url),
              { ours: url, plan: planUrl },
              quick ? 1 : durationSeconds,
              log,
              quick ? 0 : 2,
            );
        }
        if (runs('http')) {
          results.statements = await statementsPerRequest(base, scenarios, senders);
          log(`statements per request: ${JSON.stringify(results.statements)}`);
          results.explain = await explainHotQueries(url, {
            heavyUser: userId(1),
            longConversation: conversationId(1),
            longMember: userId(((1 * 31) % size.users) + 1),
            anchor: (await messageIds(url, conversationId(1), 1))[0]!,
          });
        }
        if (runs('digests') && pgbenchAvailable())
          results.digests = await digestSweepBench(size, url, quick ? 1 : durationSeconds, log);
        if (runs('realtime')) {
          log('real-time delivery: WebSocket clients against the local stack');
          const realtimeOn = (stackBase: string, prefix: string) =>
            runRealtimeBench({
              base: stackBase,
              databaseUrl: url,
              size,
              quick,
              seconds: durationSeconds,
              token,
              log: (line) => log(line.replace(/^realtime:/, prefix)),
              measure,
              statements: () => stats(stackBase),
            });
          results.realtime = await realtimeOn(base, 'realtime:');
          // The same scenarios with each write handing its pushes to the fan-out function, on a
          // stack of its own (past the plan's port), for the comparison BENCHMARKS.md reports.
          log('real-time delivery again, with the asynchronous fan-out (LOCAL_WS_FANOUT=async)');
          const asyncPort = Number(process.env.BENCH_PORT ?? 4100) + allSizes.length + 1;
          const asyncServer = await startServer('bin/start.ts', 'Messaging API on', url, asyncPort, {
            LOCAL_WS_FANOUT: 'async',
          });
          try {
            results.realtimeAsync = await realtimeOn(`http://127.0.0.1:${asyncPort}`, 'realtime, async fan-out:');
          } finally {
            asyncServer.kill('SIGTERM');
          }
        }
      }
    }
  }
  for (const server of servers) server.kill('SIGTERM');

  // The xl run measures the scaling scenarios only; the full run reports it.
  if (xl) {
    mkdirSync('bench/results', { recursive: true });
    results.totalSeconds = (Date.now() - started) / 1000;
    writeFileSync(join('bench', 'results', 'xl.json'), JSON.stringify(results, null, 2));
    log(
      `wrote bench/results/xl.json in ${((Date.now() - started) / 1000).toFixed(0)} s; the next full run reports it in BENCHMARKS.md`,
    );
    rmSync(keyFile, { force: true });
    return;
  }
  if (runs('lambdas')) {
    log('bundling each Lambda and timing cold imports');
    results.lambdas = await measureLambdas(quick ? 3 : 10);
    for (const l of results.lambdas)
      log(`${l.name}: ${(l.bytes / 1024).toFixed(1)} KB, cold init median ${l.coldInitMs.toFixed(1)} ms`);
  }
  if (only) {
    const partial = join(tmpdir(), `bench-only-${only.join('-')}-${results.date.slice(0, 19).replace(/:/g, '')}.json`);
    writeFileSync(partial, JSON.stringify(results, null, 2));
    log(`--only ${only.join(',')}: wrote ${partial}; BENCHMARKS.md left as it is`);
    rmSync(keyFile, { force: true });
    failOnErrors(results);
    return;
  }

  const missing = routeList.map((r) => r.id).filter((id) => results.statements[id] === undefined);
  if (missing.length) throw new Error(`no statement count for ${missing.join(', ')}`);
  mkdirSync('bench/results', { recursive: true });
  if (existsSync(join('bench', 'results', 'xl.json')))
    results.xl = JSON.parse(readFileSync(join('bench', 'results', 'xl.json'), 'utf8'));
  const { markdown, json, svg, verdicts } = renderReport(results);
  const stamp = results.date.slice(0, 10);
  const resultFile = quick ? join(tmpdir(), `bench-quick-${stamp}.json`) : join('bench', 'results', `${stamp}.json`);
  writeFileSync(resultFile, json);
  if (!quick) {
    writeFileSync('BENCHMARKS.md', markdown);
    writeFileSync(join('bench', 'latency-vs-size.svg'), svg);
  }
  for (const v of verdicts) log(`${v.met ? 'MET ' : 'MISS'} ${v.target}: ${v.measured}`);
  log(
    `wrote ${resultFile}${quick ? ' (quick mode: BENCHMARKS.md left as it is)' : ' and BENCHMARKS.md'} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  rmSync(keyFile, { force: true });
  failOnErrors(results);
}

await main();
process.exit(0);
