import { exec, execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Dialect, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema';
import { interceptingDialect } from '../db/statement-counter';
import { MessagingService } from '../messaging/messaging-service';
import { RECOUNTED_UNREAD } from '../messaging/read-marks';
import type { Caller } from '../messaging/types';
import { asScript, planIndexes, planSchema } from './plan-baseline/schema';
import { planStatements, type WrittenValue, writeIn } from './plan-baseline/statements';
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
  /** Variants of our side measured in the same rounds (see SqlAblation). */
  ablations?: Array<{ key: string; name: string; figures: PgbenchFigures }>;
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
  /**
   * The machine's busy CPU time per transaction (ms, every core: PostgreSQL and pgbench), when
   * /proc/stat could be read. Unlike TPS it does not depend on whether the run was bound by the
   * cores or by the disk's commit flushes, which changes from one day to the next on this machine.
   */
  cpuPerTransaction?: number;
  /** WAL written per transaction (bytes), and full-page images among it, from pg_stat_wal (PostgreSQL 14 and later). */
  walBytesPerTransaction?: number;
  fullPageImagesPerTransaction?: number;
}

/**
 * psql and pgbench run as asynchronous child processes: while a synchronous one blocked the event
 * loop, a local stack closing an idle keep-alive socket went unnoticed, and the next fetch was sent
 * on the closed socket ("other side closed").
 */
const execFileAsync = promisify(execFile);
const execAsync = promisify(exec);
const childOutput = { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 } as const;

const psql = (url: string, args: string[]) =>
  execFileAsync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args], childOutput);

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
  await psql(baseUrl, ['-c', asScript(planSchema)]);
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
      // A message of attachments alone has no content; the plan has no attachments and requires
      // content: it gets an empty one, so both sides hold the same messages.
      `SELECT id, conversation_id, sender_id, coalesce(content, ''), read_at AT TIME ZONE 'UTC', created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC' FROM messages WHERE sender_id IS NOT NULL AND deleted_at IS NULL`,
    ],
  ];
  for (const [target, query] of copies) {
    const t = Date.now();
    await execAsync(
      `set -o pipefail; psql -X -q -d '${oursUrl}' -c "\\copy (${query}) TO STDOUT" | psql -X -q -v ON_ERROR_STOP=1 -d '${baseUrl}' -c "SET session_replication_role = replica" -c "\\copy ${target} FROM STDIN"`,
      { ...childOutput, shell: '/bin/bash' },
    );
    log(`  baseline ${target.split(' ')[0]}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const t = Date.now();
  await psql(baseUrl, [
    '-c',
    `SET maintenance_work_mem = '512MB'`,
    '-c',
    asScript(planIndexes),
    '-c',
    'VACUUM (ANALYZE)',
    '-c',
    'CHECKPOINT',
  ]);
  log(`  baseline indexes, vacuum: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return baseUrl;
}

/** The exact statements our service sends for these calls. */
export async function captureOurs(
  url: string,
  calls: Record<string, (s: MessagingService) => Promise<unknown>>,
): Promise<Record<string, string>> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  let captured = '';
  const dialect: Dialect = interceptingDialect(new PostgresDialect({ pool }), {
    async statement(query) {
      captured = writeIn(query.sql, query.parameters as WrittenValue[]);
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

/** One pgbench run: every transaction's latency (ms), from its per-transaction log. */
interface PgbenchRun {
  latencies: number[];
  /** Seconds of the window the latencies come from (after the sessions' warm-up). */
  seconds: number;
  failed: number;
  /** The machine's busy CPU time in that window (ms), when /proc/stat could be read. */
  cpuMs?: number;
  /**
   * The server's WAL in that window, when pg_stat_wal could be read. Server-wide, which is what is
   * wanted: a side runs alone, and WAL written by its triggers or by vacuuming behind it is its cost
   * as much as its own rows'.
   */
  wal?: WalCounters;
}

interface WalCounters {
  bytes: number;
  fullPageImages: number;
}

let clockTicksPerSecond: number | undefined;

/** The machine's busy CPU time so far (ms, every core: user, nice, system, irq, softirq); undefined off Linux. */
function machineCpuMs(): number | undefined {
  try {
    const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    clockTicksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const ticks = user! + nice! + system! + irq! + softirq!;
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicksPerSecond : undefined;
  } catch {
    return undefined;
  }
}

/** The machine's CPU and the server's WAL at one instant (ms since the epoch). */
interface CounterSample {
  at: number;
  cpuMs?: number;
  wal?: WalCounters;
}

/** Reads the counters every `intervalMs` until stopped, so that a window inside a run can be read off afterwards. */
function sampleCounters(url: string, intervalMs = 200): { stop: () => Promise<CounterSample[]> } {
  const samples: CounterSample[] = [];
  // One session for the whole run: a psql process per sample would cost the machine more CPU than it measures.
  const client = new pg.Client({ connectionString: url });
  const connected = client.connect().then(
    () => true,
    () => false,
  );
  let stopped = false;
  const take = async () => {
    const at = Date.now();
    const cpuMs = machineCpuMs();
    let wal: WalCounters | undefined;
    if (await connected) {
      const { rows } = await client.query<{ bytes: string; fpi: string }>(
        'SELECT wal_bytes AS bytes, wal_fpi AS fpi FROM pg_stat_wal',
      );
      wal = { bytes: Number(rows[0]!.bytes), fullPageImages: Number(rows[0]!.fpi) };
    }
    samples.push({ at, cpuMs, wal });
  };
  const loop = (async () => {
    while (!stopped) {
      await take().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    await take().catch(() => undefined);
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await client.end().catch(() => undefined);
      return samples;
    },
  };
}

/** A counter's value at `at`, read off linearly between the samples around it. */
function counterAt(samples: CounterSample[], at: number, read: (s: CounterSample) => number | undefined) {
  const after = samples.findIndex((s) => s.at >= at);
  const hi = samples[after === -1 ? samples.length - 1 : after];
  const lo = samples[after <= 0 ? 0 : after - 1];
  if (!hi || !lo) return undefined;
  const [a, b] = [read(lo), read(hi)];
  if (a === undefined || b === undefined) return undefined;
  return hi.at === lo.at ? b : a + (b - a) * Math.min(1, Math.max(0, (at - lo.at) / (hi.at - lo.at)));
}

/**
 * Runs one pgbench script for `seconds`, after `sessionWarmSeconds` that count for nothing. Each run
 * opens its sessions afresh, and a new session pays once for what a long-lived one has cached: the
 * catalog, our functions compiled, and PostgreSQL's custom plans for the first five calls of each
 * statement inside them (the EXPLAIN section shows it: the page function runs in 10 ms on a new
 * session, 0.95 ms for the next five calls, then 0.07 ms). The service's sessions live long (the
 * Lambda container's pool, the Data API's pooled connections), so steady state is what a request
 * costs. Unwarmed, a send round of 2 s had its 32 sessions make about 20 sends each, most of them
 * on a cold session: ours read 0.61 × the plan's TPS where the same sessions warm read 0.83 ×.
 * Only transactions that started after the warm-up count; CPU and WAL are read off for the same
 * window from counters sampled during the run.
 */
async function runPgbench(
  url: string,
  script: string,
  clients: number,
  seconds: number,
  sessionWarmSeconds = 0,
): Promise<PgbenchRun> {
  const dir = mkdtempSync(join(tmpdir(), 'pgbench-'));
  const file = join(dir, 'script.sql');
  writeFileSync(file, script);
  let out = '';
  const sampler = sampleCounters(url);
  let samples: CounterSample[];
  try {
    ({ stdout: out } = await execFileAsync(
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
        String(seconds + sessionWarmSeconds),
        '-l',
        '--log-prefix',
        join(dir, 'log'),
        url,
      ],
      childOutput,
    ));
  } catch (error) {
    throw new Error(`pgbench failed: ${String((error as { stderr?: string }).stderr ?? error)}\n${script}`);
  } finally {
    samples = await sampler.stop();
  }
  // Per transaction: client, number, latency (µs), script, end time (s, µs since the epoch).
  const transactions: Array<{ start: number; end: number; latency: number }> = [];
  for (const name of readdirSync(dir).filter((f) => f.startsWith('log'))) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      const fields = line.split(' ').map(Number);
      if (fields.length < 6) continue;
      const latency = fields[2]! / 1000;
      const end = fields[4]! * 1000 + fields[5]! / 1000;
      transactions.push({ start: end - latency, end, latency });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
  if (transactions.length === 0) return { latencies: [], seconds, failed };
  const from = Math.min(...transactions.map((t) => t.start)) + sessionWarmSeconds * 1000;
  const counted = transactions.filter((t) => t.start >= from);
  const to = Math.max(from, ...counted.map((t) => t.end));
  const window = (read: (s: CounterSample) => number | undefined) => {
    const [a, b] = [counterAt(samples, from, read), counterAt(samples, to, read)];
    return a === undefined || b === undefined ? undefined : b - a;
  };
  const walBytes = window((s) => s.wal?.bytes);
  const fullPageImages = window((s) => s.wal?.fullPageImages);
  return {
    latencies: counted.map((t) => t.latency),
    seconds: (to - from) / 1000,
    failed,
    cpuMs: window((s) => s.cpuMs),
    wal: walBytes !== undefined && fullPageImages !== undefined ? { bytes: walBytes, fullPageImages } : undefined,
  };
}

/** The figures of one or more runs of the same script, pooled: every latency, every second. */
function figuresOf(runs: PgbenchRun[], statements: number): PgbenchFigures {
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  const failed = runs.reduce((sum, r) => sum + r.failed, 0);
  const tps = seconds > 0 ? latencies.length / seconds : 0;
  const cpuMs = runs.every((r) => r.cpuMs !== undefined) ? runs.reduce((sum, r) => sum + r.cpuMs!, 0) : undefined;
  const cpuPerTransaction = cpuMs !== undefined && latencies.length ? cpuMs / latencies.length : undefined;
  const walMeasured = latencies.length > 0 && runs.every((r) => r.wal !== undefined);
  const walPerTransaction = (field: keyof WalCounters) =>
    runs.reduce((sum, r) => sum + r.wal![field], 0) / latencies.length;
  return {
    tps,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    transactions: latencies.length,
    failed,
    statements,
    cpuPerTransaction,
    walBytesPerTransaction: walMeasured ? walPerTransaction('bytes') : undefined,
    fullPageImagesPerTransaction: walMeasured ? walPerTransaction('fullPageImages') : undefined,
  };
}

/** Runs one pgbench script; latencies from its per-transaction log. */
export async function pgbench(
  url: string,
  script: string,
  clients: number,
  seconds: number,
  statements: number,
): Promise<PgbenchFigures> {
  return figuresOf([await runPgbench(url, script, clients, seconds)], statements);
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
  ablations?: SqlAblation[];
}

/**
 * A variant of our side that shows where its time goes, measured in the same rounds as the two
 * sides: never a configuration the service runs. `setup` changes our database before each of its
 * rounds and `teardown` restores it after; `repair`, run once after the last round, puts right what
 * the variant's writes left wrong, so that the benchmark's later parts see consistent data.
 */
interface SqlAblation {
  key: string;
  name: string;
  script: string;
  statements: number;
  setup: string;
  teardown: string;
  repair: string;
}

/**
 * The three page positions compared in the first long conversation: the same 50 messages as ours
 * asks for them (the 50 before an anchor, or the newest 50) and as the plan does (an offset).
 */
export interface PagePosition {
  key: 'pageOldest' | 'pageMiddle' | 'pageNewest';
  name: string;
  /** Our `before` anchor: the message just after the page; none for the newest page. */
  before?: string;
  /** The plan's `offset`. */
  offset: number;
}

export async function pagePositions(size: DataSetSize, oursUrl: string): Promise<PagePosition[]> {
  const n = size.longConversationMessages;
  const client = new pg.Client({ connectionString: oursUrl });
  await client.connect();
  const idAt = async (seq: number) =>
    (
      await client.query<{ id: string }>('SELECT id FROM messages WHERE conversation_id = $1 AND seq = $2', [
        conversationId(1),
        seq,
      ])
    ).rows[0]!.id;
  const middle = Math.max(1, Math.floor(n / 2) + 1);
  const positions: PagePosition[] = [
    {
      key: 'pageOldest',
      name: `50-message page, oldest, of a ${n.toLocaleString('en')}-message conversation`,
      before: await idAt(Math.min(n, 51)),
      offset: 0,
    },
    {
      key: 'pageMiddle',
      name: '50-message page, middle',
      before: await idAt(middle),
      offset: Math.max(0, middle - 51),
    },
    { key: 'pageNewest', name: '50-message page, newest', offset: Math.max(0, n - 50) },
  ];
  await client.end();
  return positions;
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
  const pages = await pagePositions(size, oursUrl);
  const me = (id: string): Caller => ({ userId: id, role: 'user', isAdmin: false });
  const ours = await captureOurs(oursUrl, {
    inbox: (s) => s.listConversations(me(heavy), {}, { limit: 20, offset: 0 }),
    unread: (s) => s.getUnreadTotal(me(heavy)),
    ...Object.fromEntries(
      pages.map((p) => [
        p.key,
        (s: MessagingService) => s.listMessages(me(longMember), long, { limit: 50, offset: 0, before: p.before }),
      ]),
    ),
    markRead: (s) => s.markConversationRead(me(longMember), long),
  });
  // Conversation g = 50 q + r, r in 4..49: never one of the three long ones, never a closed one
  // (the seed closes every 50th); its first member is user (31 g mod users) + 1.
  const pickSender = `\\set q random(0, ${Math.max(0, Math.floor(size.conversations / 50) - 1)})
\\set r random(4, 49)
\\set g 50 * :q + :r
\\set u (:g * 31) % ${size.users} + 1
`;
  const oursSend = `${pickSender}/* messages.send */ SELECT outcome, retry_after, message FROM messages_send(cast(md5('c' || :g) as uuid), cast(md5('u' || :u) as uuid), 'pgbench message from the sender', NULL, NULL, 20, make_interval(secs => 10));
`;
  // The send with the fan-out to the other participants turned off: the sender's read mark is kept
  // (the plan's send writes it too), nobody else's unread count or inbox order. Its messages say
  // so, and the repair recounts their conversations as the invariants do.
  const senderOnlyContent = 'pgbench message, fan-out to the sender only';
  const senderOnly: SqlAblation = {
    key: 'sendSenderOnly',
    name: "ours with the participant fan-out off (the sender's read mark only)",
    script: oursSend.replace("'pgbench message from the sender'", `'${senderOnlyContent}'`),
    statements: 1,
    setup: `CREATE FUNCTION bench_mark_sender_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversation_participants p
     SET activity_at = NEW.updated_at, unread_count = 0, last_read_seq = NEW.last_message_seq, last_read_at = now()
   WHERE p.conversation_id = NEW.id
     AND p.user_id = (SELECT m.sender_id FROM messages m WHERE m.conversation_id = NEW.id AND m.seq = NEW.last_message_seq);
  RETURN NULL;
END $$;
ALTER TABLE conversations DISABLE TRIGGER conversations_mirror_activity;
CREATE TRIGGER bench_mark_sender_only AFTER UPDATE ON conversations FOR EACH ROW
  WHEN (OLD.last_message_seq IS DISTINCT FROM NEW.last_message_seq) EXECUTE FUNCTION bench_mark_sender_only();`,
    teardown: `DROP TRIGGER bench_mark_sender_only ON conversations;
DROP FUNCTION bench_mark_sender_only();
ALTER TABLE conversations ENABLE TRIGGER conversations_mirror_activity;`,
    repair: `UPDATE conversation_participants p
   SET activity_at = c.updated_at,
       unread_count = ${RECOUNTED_UNREAD}
  FROM conversations c
 WHERE c.id = p.conversation_id
   AND c.id IN (SELECT m.conversation_id FROM messages m WHERE m.content = '${senderOnlyContent}');`,
  };
  const transaction = (statements: string[]) => `BEGIN;\n${statements.map((s) => `${s};\n`).join('')}COMMIT;\n`;
  const sender: WrittenValue[] = [{ sql: `md5('c' || :g)` }, { sql: `md5('u' || :u)` }];
  const send = planStatements.send;
  const planSend = `${pickSender}${transaction([
    writeIn(send.isParticipant, sender),
    writeIn(send.insert, [...sender, 'pgbench message from the sender']),
    writeIn(send.touchConversation, sender),
    writeIn(send.touchReadMark, sender),
  ])}`;
  return [
    {
      key: 'inbox',
      name: 'inbox of a heavy user (20 newest)',
      clients: 4,
      ours: `${ours.inbox};\n`,
      oursStatements: 1,
      plan: `${writeIn(planStatements.inbox, [heavy, 20, 0])};\n`,
      planStatements: 1,
    },
    {
      key: 'unread',
      name: 'unread total of a heavy user',
      clients: 4,
      ours: `${ours.unread};\n`,
      oursStatements: 1,
      plan: `${writeIn(planStatements.unreadTotal, [heavy])};\n`,
      planStatements: 1,
    },
    ...pages.map((p) => ({
      key: p.key,
      name: p.name,
      clients: 4,
      ours: `${ours[p.key]};\n`,
      oursStatements: 1,
      plan: `${writeIn(planStatements.page, [long, longMember, 50, p.offset])};\n`,
      planStatements: 1,
    })),
    {
      key: 'markRead',
      name: 'mark a conversation read',
      clients: 4,
      ours: `${ours.markRead};\n`,
      oursStatements: 1,
      plan: transaction(planStatements.markConversationRead.map((s) => writeIn(s, [long, longMember]))),
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
      ablations: [senderOnly],
    },
  ];
}

/**
 * Every scenario on both sides, after a discarded warm-up each. The machine's speed drifts (other
 * tenants of the host, commit flushes that take longer on some days): one run of each side in turn
 * put the same page 30 % apart from one run to the next. So each side runs in rounds of 2 s (after
 * a second that warms the round's new sessions), the sides taking turns at going first, and each
 * side's figures pool its rounds. A scenario's
 * ablations are further sides of ours, in the same rounds.
 *
 * Both databases are vacuumed before each scenario: autovacuum may be off (this machine's CI
 * configuration turns it off; Aurora never does), and our database carries the dead rows of every
 * write the through-the-stack runs made, where the plan's was built and vacuumed just before.
 */
export async function runSqlBench(
  scenarios: SqlScenario[],
  urls: { ours: string; plan: string },
  seconds: number,
  log: (line: string) => void,
  warmSeconds = Math.max(1, Math.round(seconds / 5)),
): Promise<SqlFigures[]> {
  const figures: SqlFigures[] = [];
  const roundSeconds = Math.min(seconds, 2);
  // Every round's sessions are new: the first second warms them and is not counted (runPgbench).
  const sessionWarmSeconds = 1;
  const rounds = Math.max(1, Math.round(seconds / roundSeconds));
  for (const [index, s] of scenarios.entries()) {
    await Promise.all([psql(urls.ours, ['-c', 'VACUUM (ANALYZE)']), psql(urls.plan, ['-c', 'VACUUM (ANALYZE)'])]);
    const sides = [
      { key: 'ours', url: urls.ours, script: s.ours },
      { key: 'plan', url: urls.plan, script: s.plan },
      ...(s.ablations ?? []).map((a) => ({ ...a, url: urls.ours })),
    ];
    const runs = new Map<string, PgbenchRun[]>(sides.map((side) => [side.key, []]));
    const runSide = async (side: (typeof sides)[number], runSeconds: number, warm = 0) => {
      if ('setup' in side) await psql(side.url, ['-c', side.setup]);
      try {
        return await runPgbench(side.url, side.script, s.clients, runSeconds, warm);
      } finally {
        if ('teardown' in side) await psql(side.url, ['-c', side.teardown]);
      }
    };
    if (warmSeconds > 0) for (const side of sides) await runSide(side, warmSeconds);
    for (let round = 0; round < rounds; round++) {
      const first = (index + round) % sides.length;
      for (const side of [...sides.slice(first), ...sides.slice(0, first)])
        runs.get(side.key)!.push(await runSide(side, roundSeconds, sessionWarmSeconds));
    }
    for (const a of s.ablations ?? []) await psql(urls.ours, ['-c', a.repair]);
    const ours = figuresOf(runs.get('ours')!, s.oursStatements);
    const plan = figuresOf(runs.get('plan')!, s.planStatements);
    const ablations = (s.ablations ?? []).map((a) => ({
      key: a.key,
      name: a.name,
      figures: figuresOf(runs.get(a.key)!, a.statements),
    }));
    figures.push({
      key: s.key,
      name: s.name,
      clients: s.clients,
      ours,
      plan,
      ...(ablations.length ? { ablations } : {}),
    });
    log(
      `sql ${s.name}: ours p95 ${ours.p95.toFixed(2)} ms ${ours.tps.toFixed(0)} tps; plan p95 ${plan.p95.toFixed(2)} ms ${plan.tps.toFixed(0)} tps` +
        ablations.map((a) => `; ${a.name}: ${a.figures.tps.toFixed(0)} tps`).join('') +
        (ours.failed || plan.failed ? ` (failed: ours ${ours.failed}, plan ${plan.failed})` : ''),
    );
  }
  return figures;
}
