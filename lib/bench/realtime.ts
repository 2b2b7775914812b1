import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type autocannon from 'autocannon';
import pg from 'pg';
import WebSocket from 'ws';
import { MAX_PARTICIPANTS } from '../messaging/limits';
import { LOCAL_WEBSOCKET_PATH } from '../realtime/routes';
import { row } from './markdown';
import type { ScenarioFigures, Verdict } from './report';
import { type DataSetSize, userId } from './seed';
import { sendLoadOptions } from './send-load';

/**
 * The real-time benchmark (`npm run bench`, at the largest size): WebSocket clients in this
 * process, the local stack in its own, the same clock for the HTTP request and the frame.
 *
 * 1. Delivery: 500 users × 2 devices (1,000 sockets) in seeded two-member conversations; one send
 *    at a time, the time from the send's HTTP request start to `message.created` on the other
 *    participant's socket (and on the last of the conversation's 4 sockets).
 * 2. Fan-out: one conversation at the participant cap (50) × 4 devices = 200 sockets; the time
 *    until the last of the 200 frames arrives.
 * 3. Throughput: the 32-concurrent-user send load into those conversations with every participant
 *    connected (each send pushes to 4 sockets) against the same with no socket open, and the
 *    statements a send costs either way. Then the same 32 users, still connected, sending into
 *    another conversation of theirs, whose other members are online as the data set has them
 *    (1,000 sockets of 500 among all the users), against the same with no socket open.
 * 4. Connections opened per second through the REQUEST authorizer and `$connect`, 50 in flight.
 * 5. What pushing inside the request costs the sender: the send's latency with pushes against
 *    without, one at a time and at 32 concurrent, what one management API call costs, and the CPU
 *    each process spends per push: the stack's (the Lambdas: what a pushing Lambda pays), the
 *    WebSocket gateway's (API Gateway's work, in a process of its own) and this one's (the clients).
 */

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** CPU milliseconds per unit (a push, a send) by process; undefined where /proc cannot tell (not Linux). */
export interface CpuSplit {
  /** The local stack's process: the Lambdas, the HTTP API's emulation, the publisher. */
  stack?: number;
  /** The WebSocket gateway's process: sockets, frames, the management API (API Gateway's work). */
  gateway?: number;
  /** This process: the WebSocket clients and the HTTP load. */
  clients: number;
}

export interface RealtimeFigures {
  size: string;
  sockets: number;
  users: number;
  devicesPerUser: number;
  conversations: number;
  connect: {
    sockets: number;
    concurrency: number;
    seconds: number;
    perSecond: number;
    latency: LatencySummary;
    refused: number;
    statementsPerConnect: number;
  };
  delivery: {
    sends: number;
    /** Request start → `message.created` on the other participant's first socket. */
    recipient: LatencySummary;
    /** Request start → the last of the conversation's sockets (both participants' devices). */
    allSockets: LatencySummary;
    /** The send's HTTP response, pushes included. */
    response: LatencySummary;
    socketsPerSend: number;
    lost: number;
    /** Share of sends whose recipient frame came before the HTTP response. */
    frameBeforeResponse: number;
  };
  fanout: {
    participants: number;
    devicesPerParticipant: number;
    sockets: number;
    sends: number;
    last: LatencySummary;
    first: LatencySummary;
    response: LatencySummary;
    lost: number;
    cpuPerPush: CpuSplit;
  };
  throughput: {
    pushOn: ScenarioFigures;
    pushOff: ScenarioFigures;
    ratio: number;
    /** `message.created` frames the clients received per send during the load with pushes. */
    framesPerSend: number;
    statementsPerSendOn: number;
    statementsPerSendOff: number;
    cpuPerSendOn: CpuSplit;
    cpuPerSendOff: CpuSplit;
    /**
     * The same 32 connected users sending into another conversation of theirs each, whose other
     * members are online only as the data set has them (absent from results recorded before it).
     */
    dataSetAudience?: {
      pushOn: ScenarioFigures;
      pushOff: ScenarioFigures;
      ratio: number;
      framesPerSend: number;
      /** The data set's users, of whom `users` are connected. */
      usersInDataSet: number;
    };
  };
  requestCost: {
    /** One send at a time, with the participants connected (4 pushes per send) and with none. */
    sequentialOn: LatencySummary;
    sequentialOff: LatencySummary;
    /** One PostToConnection with the SDK client, from this process: sign, HTTP call, the socket write. */
    postToConnection: LatencySummary;
    pushesPerSend: number;
  };
  seconds: number;
}

export interface RealtimeContext {
  base: string;
  databaseUrl: string;
  size: DataSetSize;
  quick: boolean;
  seconds: number;
  token: (sub: string, groups?: string[]) => Promise<string>;
  log: (line: string) => void;
  /** bin/bench.ts's autocannon runner (warm-up, then every response timed), so the load is the send scenario's. */
  measure: (name: string, route: string, options: autocannon.Options, seconds: number) => Promise<ScenarioFigures>;
  /** Statements plus transactions so far, from the local stack's GET /local/stats. */
  statements: () => Promise<number>;
}

export function summarize(values: number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
  return {
    count: sorted.length,
    mean: sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : 0,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: sorted.at(-1) ?? 0,
  };
}

interface Device {
  userId: string;
  socket: WebSocket;
}

/** A send in flight: which frames it waits for, and when they came. */
interface Tracker {
  sender: string;
  expected: number;
  arrived: number;
  start: number;
  first?: number;
  recipient?: number;
  last?: number;
  done: () => void;
}

const pending = new Map<string, Tracker>();
let framesSeen = 0;

function onFrame(device: Device, data: WebSocket.RawData) {
  const at = performance.now();
  const text = data.toString();
  if (!text.startsWith('{"type":"message.created"')) return;
  framesSeen++;
  // Under the throughput load no send is tracked: the frame is only counted, not parsed, so this
  // process takes as little of the cores the stack shares as a client can.
  if (pending.size === 0) return;
  const content = (JSON.parse(text) as { data: { content: string } }).data.content;
  const t = pending.get(content);
  if (!t) return;
  t.arrived++;
  t.first ??= at;
  if (device.userId !== t.sender) t.recipient ??= at;
  if (t.arrived === t.expected) {
    t.last = at;
    t.done();
  }
}

function openSocket(base: string, token: string, user: string): Promise<Device> {
  const url = `${base.replace(/^http/, 'ws')}${LOCAL_WEBSOCKET_PATH}?token=${encodeURIComponent(token)}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const device = { userId: user, socket };
    socket.on('message', (data) => onFrame(device, data));
    socket.once('open', () => resolve(device));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

/** Opens every socket with at most `concurrency` handshakes in flight; times each one. */
async function openAll(
  base: string,
  wanted: Array<{ user: string; token: string }>,
  concurrency: number,
): Promise<{ devices: Device[]; latencies: number[]; refused: number; seconds: number }> {
  const devices: Device[] = [];
  const latencies: number[] = [];
  let refused = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, wanted.length) }, async () => {
      while (next < wanted.length) {
        const w = wanted[next++]!;
        const t = performance.now();
        try {
          devices.push(await openSocket(base, w.token, w.user));
          latencies.push(performance.now() - t);
        } catch {
          refused++;
        }
      }
    }),
  );
  return { devices, latencies, refused, seconds: (performance.now() - started) / 1000 };
}

async function closeAll(devices: Device[]): Promise<void> {
  await Promise.all(
    devices.map(
      (d) =>
        new Promise<void>((resolve) => {
          if (d.socket.readyState === WebSocket.CLOSED) return resolve();
          d.socket.once('close', () => resolve());
          d.socket.close();
        }),
    ),
  );
}

/** The HTTP client's pool: one per run (each run ends by destroying it). */
let agent = new Agent({ keepAlive: true, maxSockets: 64 });

function post(base: string, path: string, token: string, body: unknown): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

interface SendResult {
  response: number;
  recipient?: number;
  first?: number;
  last?: number;
  lost: boolean;
}

/** One send, timed from the request's start to its response and to each frame it is expected to cause. */
async function timedSend(
  base: string,
  sender: { id: string; token: string },
  conversation: string,
  nonce: string,
  expected: number,
  timeoutMs = 3000,
): Promise<SendResult> {
  let done!: () => void;
  const arrived = new Promise<void>((resolve) => {
    done = resolve;
  });
  const start = performance.now();
  const t: Tracker = { sender: sender.id, expected, arrived: 0, start, done };
  if (expected > 0) pending.set(nonce, t);
  const res = await post(base, `/v1/messages/conversations/${conversation}/messages`, sender.token, {
    content: nonce,
  });
  const response = performance.now() - start;
  if (res.status !== 201) throw new Error(`send answered ${res.status}: ${res.body}`);
  if (expected > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([arrived, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    pending.delete(nonce);
  }
  const rel = (x?: number) => (x === undefined ? undefined : x - start);
  return {
    response,
    recipient: rel(t.recipient),
    first: rel(t.first),
    last: rel(t.last),
    lost: expected > 0 && t.last === undefined,
  };
}

/** Seeded active two-member conversations with no user in two of them, and no heavy user. */
async function disjointPairs(
  databaseUrl: string,
  size: DataSetSize,
  wanted: number,
): Promise<Array<{ conversation: string; members: [string, string] }>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ id: string; members: string[] }>(
    `SELECT p.conversation_id AS id, array_agg(p.user_id::text ORDER BY p.user_id) AS members
       FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
      WHERE c.status = 'active' AND c.subject LIKE 'Conversation %'
      GROUP BY p.conversation_id HAVING count(*) = 2
      LIMIT 50000`,
  );
  await client.end();
  const heavy = new Set(Array.from({ length: size.heavyUsers }, (_, i) => userId(i + 1)));
  const used = new Set<string>();
  const pairs: Array<{ conversation: string; members: [string, string] }> = [];
  for (const r of rows) {
    const [a, b] = r.members as [string, string];
    if (heavy.has(a) || heavy.has(b) || used.has(a) || used.has(b)) continue;
    used.add(a);
    used.add(b);
    pairs.push({ conversation: r.id, members: [a, b] });
    if (pairs.length === wanted) break;
  }
  return pairs;
}

/**
 * For each user, one other active conversation of theirs (none of `excluded`) of at most 4
 * members (the data set's conversations have 3.5 on average; its few large ones would make one
 * sender's luck the figure), picked in a fixed pseudo-random order: what they send into when its
 * other members are online only as the data set has them. Users without one are left out.
 */
async function otherConversations(
  databaseUrl: string,
  users: string[],
  excluded: string[],
): Promise<Array<{ user: string; conversation: string }>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ user: string; conversation: string }>(
    `SELECT DISTINCT ON (p.user_id) p.user_id::text AS user, p.conversation_id::text AS conversation
       FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
      WHERE p.user_id = ANY ($1::uuid[]) AND c.status = 'active' AND NOT (p.conversation_id = ANY ($2::uuid[]))
        AND (SELECT count(*) FROM conversation_participants o WHERE o.conversation_id = p.conversation_id) <= 4
      ORDER BY p.user_id, md5(p.conversation_id::text)`,
    [users, excluded],
  );
  await client.end();
  const byUser = new Map(rows.map((r) => [r.user, r.conversation]));
  return users.flatMap((user) => (byUser.has(user) ? [{ user, conversation: byUser.get(user)! }] : []));
}

async function connectionCount(databaseUrl: string): Promise<{ count: number; sample?: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ count: string; sample: string | null }>(
    'SELECT count(*) AS count, min(connection_id) AS sample FROM connections WHERE expires_at > now()',
  );
  await client.end();
  return { count: Number(rows[0]!.count), sample: rows[0]!.sample ?? undefined };
}

/** Waits until the closed sockets' $disconnects have removed their rows (and stopped counting statements). */
async function drained(databaseUrl: string, log: (line: string) => void, left = 0): Promise<void> {
  const until = Date.now() + 15_000;
  for (;;) {
    const { count } = await connectionCount(databaseUrl);
    if (count <= left) return;
    if (Date.now() > until) {
      log(`realtime: ${count} connection rows still registered, ${left} expected, after closing sockets`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const fmt = (n: number) => `${n.toFixed(1)} ms`;

/** One send load's row of the throughput table: its rate, latency, errors, frames and statements per send. */
const loadRow = (label: string, load: ScenarioFigures, framesPerSend: string, statementsPerSend: number | string) =>
  row([
    label,
    load.rps.toFixed(0),
    fmt(load.p50),
    fmt(load.p95),
    fmt(load.p99),
    load.errors,
    framesPerSend,
    statementsPerSend,
  ]);

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; undefined off Linux. */
function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Starts counting the CPU of the stack's and the gateway's processes and of this one; `per(n)` splits it over n units. */
function cpuMeter(pids: { stack?: number; gateway?: number }) {
  const stack = cpuSecondsOf(pids.stack);
  const gateway = cpuSecondsOf(pids.gateway);
  const own = process.cpuUsage();
  return (units: number): CpuSplit => {
    const per = (now: number | undefined, then: number | undefined) =>
      now === undefined || then === undefined ? undefined : (1000 * (now - then)) / Math.max(1, units);
    const used = process.cpuUsage(own);
    return {
      stack: per(cpuSecondsOf(pids.stack), stack),
      gateway: per(cpuSecondsOf(pids.gateway), gateway),
      clients: (used.user + used.system) / 1000 / Math.max(1, units),
    };
  };
}

const cpuText = (c: CpuSplit) =>
  `stack ${c.stack?.toFixed(3) ?? '?'} ms, gateway ${c.gateway?.toFixed(3) ?? '?'} ms, clients ${c.clients.toFixed(3)} ms`;

export async function runRealtimeBench(ctx: RealtimeContext): Promise<RealtimeFigures> {
  const { base, quick, log } = ctx;
  const started = performance.now();
  agent = new Agent({ keepAlive: true, maxSockets: 64 });
  pending.clear();
  const users = quick ? 50 : 500;
  const devicesPerUser = 2;
  const sends = quick ? 100 : 1000;
  const fanoutSends = quick ? 10 : 100;
  const concurrency = 50;

  const pairs = await disjointPairs(ctx.databaseUrl, ctx.size, users / 2);
  if (pairs.length < MAX_PARTICIPANTS / 2) throw new Error(`only ${pairs.length} disjoint conversations to connect`);
  const people = pairs.flatMap((p) => p.members);
  const tokens = new Map<string, string>();
  for (const id of people) tokens.set(id, await ctx.token(id));
  const who = (id: string) => ({ id, token: tokens.get(id)! });

  const stackStats = (await (await fetch(`${base}/local/stats`)).json()) as {
    processes?: { stack?: number; gateway?: number };
    managementEndpoint?: string;
  };
  const pids = stackStats.processes ?? {};

  // Warm: the authorizer's cold start and JWKS fetch, $connect's, and the publisher's first call.
  const warm = await openSocket(base, tokens.get(people[0]!)!, people[0]!);
  await closeAll([warm]);
  await drained(ctx.databaseUrl, log);

  // 4. Connections per second, 50 handshakes in flight: every device of the delivery scenario.
  const wanted = people.flatMap((user) =>
    Array.from({ length: devicesPerUser }, () => ({ user, token: tokens.get(user)! })),
  );
  const beforeConnect = await ctx.statements();
  const opened = await openAll(base, wanted, concurrency);
  const statementsPerConnect = ((await ctx.statements()) - beforeConnect) / Math.max(1, opened.devices.length);
  const connect = {
    sockets: opened.devices.length,
    concurrency,
    seconds: opened.seconds,
    perSecond: opened.devices.length / opened.seconds,
    latency: summarize(opened.latencies),
    refused: opened.refused,
    statementsPerConnect,
  };
  log(
    `realtime: opened ${connect.sockets} sockets (${pairs.length * 2} users × ${devicesPerUser}) in ${connect.seconds.toFixed(2)} s: ` +
      `${connect.perSecond.toFixed(0)} connections/s at ${concurrency} in flight, handshake p50 ${fmt(connect.latency.p50)}, ` +
      `p95 ${fmt(connect.latency.p95)}, ${connect.refused} refused, ${statementsPerConnect.toFixed(2)} statements per $connect`,
  );
  const devices = opened.devices;

  // 1. Delivery, one send at a time, alternating who sends; a discarded warm-up first.
  const sendInPair = async (i: number, tag: string, expected = 2 * devicesPerUser) => {
    const pair = pairs[i % pairs.length]!;
    const sender = who(pair.members[Math.floor(i / pairs.length) % 2]!);
    return timedSend(base, sender, pair.conversation, `rt ${tag} ${i}`, expected);
  };
  for (let i = 0; i < (quick ? 20 : 100); i++) await sendInPair(i, 'warm');
  const delivered: SendResult[] = [];
  for (let i = 0; i < sends; i++) delivered.push(await sendInPair(i, 'on'));
  const got = delivered.filter((d) => d.recipient !== undefined);
  const delivery = {
    sends,
    recipient: summarize(got.map((d) => d.recipient!)),
    allSockets: summarize(delivered.filter((d) => d.last !== undefined).map((d) => d.last!)),
    response: summarize(delivered.map((d) => d.response)),
    socketsPerSend: 2 * devicesPerUser,
    lost: delivered.filter((d) => d.lost).length,
    frameBeforeResponse: got.filter((d) => d.recipient! < d.response).length / Math.max(1, got.length),
  };
  log(
    `realtime: ${sends} sends, request start → message.created on the recipient's socket: p50 ${fmt(delivery.recipient.p50)}, ` +
      `p95 ${fmt(delivery.recipient.p95)}, p99 ${fmt(delivery.recipient.p99)}; all 4 sockets p95 ${fmt(delivery.allSockets.p95)}; ` +
      `response p50 ${fmt(delivery.response.p50)}, p95 ${fmt(delivery.response.p95)}; ${delivery.lost} lost`,
  );

  // 5 (part). One management API call from here, as a Lambda makes it: SigV4, HTTP, the socket write.
  const sample = (await connectionCount(ctx.databaseUrl)).sample;
  const sdk = new ApiGatewayManagementApiClient({
    // The gateway's own endpoint, as the functions call it; the stack's /ws forwards there for others.
    endpoint: stackStats.managementEndpoint ?? `${base}${LOCAL_WEBSOCKET_PATH}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const postTimes: number[] = [];
  const data = new TextEncoder().encode('{"type":"pong","data":{}}');
  for (let i = 0; i < (quick ? 30 : 500) + 20 && sample; i++) {
    const t = performance.now();
    await sdk.send(new PostToConnectionCommand({ ConnectionId: sample, Data: data }));
    if (i >= 20) postTimes.push(performance.now() - t);
  }
  sdk.destroy();
  const postToConnection = summarize(postTimes);
  log(
    `realtime: one PostToConnection through the SDK client: p50 ${fmt(postToConnection.p50)}, p95 ${fmt(postToConnection.p95)}`,
  );

  // 2. Fan-out: 50 participants (the cap) × 4 devices = 200 sockets in one conversation.
  const members = people.slice(0, MAX_PARTICIPANTS);
  const creator = who(members[0]!);
  const created = await post(base, '/v1/messages/conversations', creator.token, {
    type: 'general',
    subject: 'Real-time fan-out',
    participantIds: members.slice(1),
  });
  if (created.status !== 201) throw new Error(`creating the fan-out conversation answered ${created.status}`);
  const fanoutConversation = (JSON.parse(created.body) as { id: string }).id;
  const extra = await openAll(
    base,
    members.flatMap((user) => Array.from({ length: 2 }, () => ({ user, token: tokens.get(user)! }))),
    concurrency,
  );
  devices.push(...extra.devices);
  const fanoutSockets = members.length * (devicesPerUser + 2) - extra.refused;
  const fanned: SendResult[] = [];
  let fanoutCpu = cpuMeter(pids);
  for (let i = 0; i < fanoutSends + 5; i++) {
    if (i === 5) fanoutCpu = cpuMeter(pids);
    const r = await timedSend(
      base,
      who(members[i % members.length]!),
      fanoutConversation,
      `rt fan ${i}`,
      fanoutSockets,
    );
    if (i >= 5) fanned.push(r);
  }
  const cpuPerPush = fanoutCpu(fanoutSends * fanoutSockets);
  const fanout = {
    participants: members.length,
    devicesPerParticipant: devicesPerUser + 2,
    sockets: fanoutSockets,
    sends: fanoutSends,
    last: summarize(fanned.filter((d) => d.last !== undefined).map((d) => d.last!)),
    first: summarize(fanned.filter((d) => d.first !== undefined).map((d) => d.first!)),
    response: summarize(fanned.map((d) => d.response)),
    lost: fanned.filter((d) => d.lost).length,
    cpuPerPush,
  };
  log(
    `realtime: one message to ${fanout.sockets} sockets (${fanout.participants} participants × ${fanout.devicesPerParticipant} devices), ` +
      `${fanout.sends} sends: last frame p50 ${fmt(fanout.last.p50)}, p95 ${fmt(fanout.last.p95)}; first frame p50 ${fmt(fanout.first.p50)}; ` +
      `response p95 ${fmt(fanout.response.p95)}; ${fanout.lost} incomplete; CPU per push: ${cpuText(cpuPerPush)}`,
  );
  await closeAll(extra.devices);
  await drained(ctx.databaseUrl, log, devices.length - extra.devices.length);

  // 3. Throughput, 32 concurrent senders, each in a conversation whose 2 participants × 2 devices listen.
  const loaders = pairs.slice(0, 32).map((p) => ({ ...who(p.members[0]), conversation: p.conversation }));
  // The same users (connected), each in another conversation of theirs, whose other members are
  // online only as the data set has them: each send pushes to the sender's own 2 devices, and to
  // another member's only when that member is one of the 500 connected users.
  const elsewhere = (
    await otherConversations(
      ctx.databaseUrl,
      loaders.map((l) => l.id),
      pairs.map((p) => p.conversation),
    )
  ).map((o) => ({ ...who(o.user), conversation: o.conversation }));
  if (elsewhere.length < loaders.length)
    throw new Error(`only ${elsewhere.length} of ${loaders.length} senders have another active conversation`);
  let counter = 0;
  /** The load, and the CPU per send over it (its warm-up included: `counter` counts both phases' sends). */
  const sendLoad = async (
    label: string,
    senders: typeof loaders = loaders,
  ): Promise<{ figures: ScenarioFigures; cpu: CpuSplit; framesPerSend: number }> => {
    counter = 0;
    const framesBefore = framesSeen;
    const meter = cpuMeter(pids);
    const figures = await ctx.measure(
      `send, ${senders.length} concurrent users, ${label}`,
      'send-message',
      sendLoadOptions(base, senders, () => `load ${counter++}`),
      ctx.seconds,
    );
    // The warm-up's requests are in the frame count too: divide by what both phases sent.
    return { figures, cpu: meter(counter), framesPerSend: (framesSeen - framesBefore) / Math.max(1, counter) };
  };
  const statementsPerSend = async () => {
    const l = loaders[0]!;
    const n = 20;
    const before = await ctx.statements();
    for (let i = 0; i < n; i++) await timedSend(base, l, l.conversation, `rt count ${i} ${Math.random()}`, 0);
    return ((await ctx.statements()) - before) / n;
  };
  const statementsPerSendOn = await statementsPerSend();
  const { figures: pushOn, cpu: cpuPerSendOn, framesPerSend } = await sendLoad('pushing to 4 sockets each');
  log(
    `realtime: send load with pushes: ${pushOn.rps.toFixed(0)} messages/s, p50 ${fmt(pushOn.p50)}, p95 ${fmt(pushOn.p95)}, ` +
      `${framesPerSend.toFixed(2)} frames per send, errors ${pushOn.errors}, ${statementsPerSendOn} statements per send; ` +
      `CPU per send: ${cpuText(cpuPerSendOn)}`,
  );

  const audienceOn = await sendLoad('into another conversation each, online as the data set has it', elsewhere);
  log(
    `realtime: the same users into another conversation each, sockets open: ${audienceOn.figures.rps.toFixed(0)} messages/s, ` +
      `p50 ${fmt(audienceOn.figures.p50)}, p95 ${fmt(audienceOn.figures.p95)}, ${audienceOn.framesPerSend.toFixed(2)} frames per send, ` +
      `errors ${audienceOn.figures.errors}`,
  );

  // Every socket closed: the same sends now push to nobody.
  await closeAll(devices);
  await drained(ctx.databaseUrl, log);
  const statementsPerSendOff = await statementsPerSend();
  const { figures: pushOff, cpu: cpuPerSendOff } = await sendLoad('no socket open');
  log(
    `realtime: send load without sockets: ${pushOff.rps.toFixed(0)} messages/s, p50 ${fmt(pushOff.p50)}, p95 ${fmt(pushOff.p95)}, ` +
      `errors ${pushOff.errors}; with pushes ${(pushOn.rps / pushOff.rps).toFixed(2)} × the throughput; CPU per send: ${cpuText(cpuPerSendOff)}`,
  );
  const { figures: audienceOff } = await sendLoad('into another conversation each, no socket open', elsewhere);
  const dataSetAudience = {
    pushOn: audienceOn.figures,
    pushOff: audienceOff,
    ratio: audienceOn.figures.rps / audienceOff.rps,
    framesPerSend: audienceOn.framesPerSend,
    usersInDataSet: ctx.size.users,
  };
  log(
    `realtime: the same users into another conversation each: ${audienceOff.rps.toFixed(0)} messages/s with no socket open, ` +
      `${dataSetAudience.ratio.toFixed(2)} × that with their sockets open`,
  );

  // 5. The same one-at-a-time sends with nobody to push to.
  for (let i = 0; i < (quick ? 20 : 100); i++) await sendInPair(i, 'warm off', 0);
  const quiet: SendResult[] = [];
  for (let i = 0; i < sends; i++) quiet.push(await sendInPair(i, 'off', 0));
  const requestCost = {
    sequentialOn: delivery.response,
    sequentialOff: summarize(quiet.map((d) => d.response)),
    postToConnection,
    pushesPerSend: 2 * devicesPerUser,
  };
  log(
    `realtime: one send at a time: p50 ${fmt(requestCost.sequentialOn.p50)}, p95 ${fmt(requestCost.sequentialOn.p95)} pushing to 4 sockets ` +
      `against p50 ${fmt(requestCost.sequentialOff.p50)}, p95 ${fmt(requestCost.sequentialOff.p95)} with none`,
  );
  agent.destroy();
  return {
    size: ctx.size.label,
    sockets: connect.sockets,
    users: people.length,
    devicesPerUser,
    conversations: pairs.length,
    connect,
    delivery,
    fanout,
    throughput: {
      pushOn,
      pushOff,
      ratio: pushOn.rps / pushOff.rps,
      framesPerSend,
      statementsPerSendOn,
      statementsPerSendOff,
      cpuPerSendOn,
      cpuPerSendOff,
      dataSetAudience,
    },
    requestCost,
    seconds: (performance.now() - started) / 1000,
  };
}

export function realtimeVerdicts(r: RealtimeFigures | undefined): Verdict[] {
  if (!r) return [];
  const t = r.throughput;
  return [
    {
      target: `real-time: request start → message.created on a recipient's socket, ${r.sockets} sockets open: p50 ≤ 5 ms`,
      measured: `${fmt(r.delivery.recipient.p50)} over ${r.delivery.recipient.count} sends`,
      met: r.delivery.recipient.count > 0 && r.delivery.recipient.p50 <= 5,
    },
    {
      target: `real-time: request start → message.created on a recipient's socket, ${r.sockets} sockets open: p95 ≤ 20 ms`,
      measured: `${fmt(r.delivery.recipient.p95)} over ${r.delivery.recipient.count} sends`,
      met: r.delivery.recipient.count > 0 && r.delivery.recipient.p95 <= 20,
    },
    {
      target: `real-time: one message to ${r.fanout.sockets} sockets (${r.fanout.participants} participants, the cap, × ${r.fanout.devicesPerParticipant} devices): last frame p95 ≤ 50 ms`,
      measured: `${fmt(r.fanout.last.p95)} over ${r.fanout.last.count} sends`,
      met: r.fanout.last.count > 0 && r.fanout.last.p95 <= 50,
    },
    {
      target: 'real-time: send throughput pushing to every participant ≥ 0.8 × with no socket open',
      measured: `${t.pushOn.rps.toFixed(0)} against ${t.pushOff.rps.toFixed(0)} messages/s: ${t.ratio.toFixed(2)} ×`,
      met: t.ratio >= 0.8 && t.pushOn.errors === 0 && t.pushOff.errors === 0,
    },
    ...(t.dataSetAudience
      ? [
          {
            target:
              'real-time: send throughput of the same senders, connected, into another conversation each, its other members online as the data set has them, ≥ 0.8 × with no socket open',
            measured: `${t.dataSetAudience.pushOn.rps.toFixed(0)} against ${t.dataSetAudience.pushOff.rps.toFixed(0)} messages/s: ${t.dataSetAudience.ratio.toFixed(2)} × (${t.dataSetAudience.framesPerSend.toFixed(2)} frames per send)`,
            met:
              t.dataSetAudience.ratio >= 0.8 &&
              t.dataSetAudience.pushOn.errors === 0 &&
              t.dataSetAudience.pushOff.errors === 0,
          },
        ]
      : []),
    {
      target: 'real-time: one SQL statement per send, pushes included',
      measured: `${t.statementsPerSendOn} with pushes, ${t.statementsPerSendOff} without`,
      met: t.statementsPerSendOn === 1 && t.statementsPerSendOff === 1,
    },
    {
      target: 'real-time: every socket opens through the authorizer, one statement per $connect, no frame lost',
      measured:
        `${r.connect.sockets} opened at ${r.connect.perSecond.toFixed(0)}/s, ${r.connect.refused} refused, ` +
        `${r.connect.statementsPerConnect.toFixed(2)} statements each; ${r.delivery.lost + r.fanout.lost} sends missing a frame`,
      met:
        r.connect.refused === 0 && r.connect.statementsPerConnect === 1 && r.delivery.lost === 0 && r.fanout.lost === 0,
    },
  ];
}

/** The "Real-time delivery" section of BENCHMARKS.md. */
export function realtimeMarkdown(r: RealtimeFigures | undefined, handedOver?: RealtimeFigures): string[] {
  if (!r) return [];
  const lat = (s: LatencySummary) => [fmt(s.p50), fmt(s.p95), fmt(s.p99), s.count];
  const c = r.requestCost;
  const pushCost50 = c.sequentialOn.p50 - c.sequentialOff.p50;
  const pushCost95 = c.sequentialOn.p95 - c.sequentialOff.p95;
  const perPush = (r.fanout.response.p50 - c.sequentialOff.p50) / r.fanout.sockets;
  // Results recorded before the CPU split was measured have none: their cells read n/a.
  const f = { cpuPerPush: r.fanout.cpuPerPush ?? ({} as Partial<CpuSplit>) };
  const t = {
    ...r.throughput,
    cpuPerSendOn: r.throughput.cpuPerSendOn ?? ({} as Partial<CpuSplit>),
    cpuPerSendOff: r.throughput.cpuPerSendOff ?? ({} as Partial<CpuSplit>),
  };
  const ms = (n: number | undefined) => (n === undefined ? 'n/a' : `${n.toFixed(3)} ms`);
  return [
    `## Real-time delivery (${r.size} size)`,
    '',
    `WebSocket clients (\`ws\`) in the benchmark's process, the local stack in its own, and the stack's WebSocket gateway (the sockets, their frames and the management API: API Gateway's work) in a third: the clock that starts a send's HTTP request also stamps its frames. ` +
      `${r.users} seeded users in ${r.conversations} seeded two-member conversations, ${r.devicesPerUser} devices each: ${r.sockets} sockets. ` +
      `A send is pushed to every participant's sockets, the sender's other devices included, so each send here pushes to ${r.delivery.socketsPerSend}. ` +
      `Participants are capped at ${r.fanout.participants} per conversation (MAX_PARTICIPANTS), so the 200-connection fan-out is ${r.fanout.participants} participants × ${r.fanout.devicesPerParticipant} devices. ` +
      `Pushes are made inside the request, after its one statement: one PostToConnection per connection, SigV4-signed by the service's publisher (lib/realtime/management-api-publisher.ts), all in parallel, before the send answers. ` +
      `All three processes and PostgreSQL share the machine's cores.`,
    '',
    row(['target', 'measured', 'verdict']),
    row(['---', '---', '---']),
    ...realtimeVerdicts(r).map((v) =>
      row([v.target.replace(/^real-time: /, ''), v.measured, v.met ? 'MET' : '**MISS**']),
    ),
    '',
    row(['measurement', 'p50', 'p95', 'p99', 'samples']),
    row(['---', '---:', '---:', '---:', '---:']),
    row(["send → message.created on the recipient's socket", ...lat(r.delivery.recipient)]),
    row([`send → the last of the conversation's ${r.delivery.socketsPerSend} sockets`, ...lat(r.delivery.allSockets)]),
    row([`send's HTTP response, ${r.delivery.socketsPerSend} pushes in it`, ...lat(r.delivery.response)]),
    row(['send with no socket open: HTTP response', ...lat(c.sequentialOff)]),
    row([`one message → the last of ${r.fanout.sockets} frames`, ...lat(r.fanout.last)]),
    row([`one message → the first of ${r.fanout.sockets} frames`, ...lat(r.fanout.first)]),
    row([`one message to ${r.fanout.sockets} sockets: HTTP response`, ...lat(r.fanout.response)]),
    row(['one PostToConnection (SDK client: SigV4, HTTP, socket write)', ...lat(c.postToConnection)]),
    row([`WebSocket handshake (authorizer + $connect), ${r.connect.concurrency} in flight`, ...lat(r.connect.latency)]),
    '',
    `Connections: ${r.connect.sockets} opened in ${r.connect.seconds.toFixed(2)} s, ${r.connect.perSecond.toFixed(0)} per second with ${r.connect.concurrency} handshakes in flight ` +
      `(each runs the REQUEST authorizer, aws-jwt-verify on the token, then \`$connect\`'s ${r.connect.statementsPerConnect.toFixed(2)} statement). ` +
      `The recipient's frame came before the sender's HTTP response in ${(100 * r.delivery.frameBeforeResponse).toFixed(0)} % of sends.`,
    '',
    row([
      'send, 32 concurrent users',
      'messages/s',
      'p50',
      'p95',
      'p99',
      'errors',
      'frames per send',
      'statements per send',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    loadRow(
      `pushing to ${r.delivery.socketsPerSend} sockets each`,
      t.pushOn,
      t.framesPerSend.toFixed(2),
      t.statementsPerSendOn,
    ),
    loadRow('no socket open', t.pushOff, '0', t.statementsPerSendOff),
    ...(t.dataSetAudience
      ? [
          loadRow(
            'the same senders, connected, into another conversation each (its other members online as the data set has them)',
            t.dataSetAudience.pushOn,
            t.dataSetAudience.framesPerSend.toFixed(2),
            '',
          ),
          loadRow('the same, no socket open', t.dataSetAudience.pushOff, '0', ''),
        ]
      : []),
    '',
    ...(t.dataSetAudience
      ? [
          `Every send of the first load pushes to all of its conversation's members, each on ${r.devicesPerUser} devices: the most a send of a two-member conversation can cost. ` +
            `In the second, the same senders write into another conversation of theirs each, as a user online in the app does, and its other members are online only as the data set has them (${r.users} of its ${t.dataSetAudience.usersInDataSet.toLocaleString('en')} users connected): ` +
            `${t.dataSetAudience.framesPerSend.toFixed(2)} frames per send, the sender's own devices nearly always among them. Both loads run once with the ${r.sockets} sockets open and once with none, one after the other.`,
          '',
        ]
      : []),
    row([
      'CPU per unit, by process',
      'local stack (Lambdas, publisher)',
      'WebSocket gateway (API Gateway)',
      'benchmark (clients, load)',
    ]),
    row(['---', '---:', '---:', '---:']),
    row([
      `one push, in the ${r.fanout.sockets}-socket fan-out`,
      ms(f.cpuPerPush.stack),
      ms(f.cpuPerPush.gateway),
      ms(f.cpuPerPush.clients),
    ]),
    row([
      `one send, 32 concurrent, pushing to ${r.delivery.socketsPerSend} sockets`,
      ms(t.cpuPerSendOn.stack),
      ms(t.cpuPerSendOn.gateway),
      ms(t.cpuPerSendOn.clients),
    ]),
    row([
      'one send, 32 concurrent, no socket open',
      ms(t.cpuPerSendOff.stack),
      ms(t.cpuPerSendOff.gateway),
      ms(t.cpuPerSendOff.clients),
    ]),
    '',
    ...fanoutComparison(r, handedOver),
    `**Pushing inside the request, or handing it to an asynchronous fan-out.** Pushes are made inside the request${handedOver ? ' (the comparison above is one run of each, the asynchronous one second, on a stack of its own)' : ''}. ` +
      `They cost the sender ${fmt(pushCost50)} at p50 and ${fmt(pushCost95)} at p95 one send at a time (${c.pushesPerSend} pushes, in parallel; ${fmt(c.sequentialOn.p50)} against ${fmt(c.sequentialOff.p50)} p50), ` +
      `and at 32 concurrent senders ${fmt(t.pushOn.p50 - t.pushOff.p50)} at p50 and ${(100 * (1 - t.ratio)).toFixed(0)} % of the throughput, where the gateway's and the clients' work for the frames share the cores with the senders. ` +
      `What a pushing Lambda itself pays is the stack's CPU per push, ${ms(f.cpuPerPush.stack)} (sign, send, read the answer); the gateway's ${ms(f.cpuPerPush.gateway)} per push is API Gateway's in AWS. ` +
      `Each socket in the audience adds about ${perPush.toFixed(2)} ms to the send's response (${r.fanout.sockets} pushes: ${fmt(r.fanout.response.p50)} p50). ` +
      (handedOver
        ? `Handing the pushes over does not make a send cheaper: the one asynchronous Invoke through the SDK's Lambda client costs the sender about what ${c.pushesPerSend} direct pushes cost (response p50 ${fmt(handedOver.delivery.response.p50)} against ${fmt(r.delivery.response.p50)}, p95 ${fmt(handedOver.delivery.response.p95)} against ${fmt(r.delivery.response.p95)}), ` +
          `every push is still made, by a second invocation that receives and checks the payload (CPU per send under load ${ms(handedOver.throughput.cpuPerSendOn?.stack)} against ${ms(t.cpuPerSendOn.stack)}, the local Lambda endpoint's work included), ` +
          `and the frames come later (recipient p50 ${fmt(handedOver.delivery.recipient.p50)} against ${fmt(r.delivery.recipient.p50)}, p95 ${fmt(handedOver.delivery.recipient.p95)} against ${fmt(r.delivery.recipient.p95)}). ` +
          `In AWS the gap in delivery is wider than here: Lambda queues an asynchronous invocation before a container takes it, and fan-outs run in any order, so a device could see one sender's consecutive messages out of order, which pushes made inside the request, each before its send answers, never cause. ` +
          `Only a large audience favours the hand-over, for the response alone (${r.fanout.sockets} sockets: response p95 ${fmt(handedOver.fanout.response.p95)} against ${fmt(r.fanout.response.p95)}; locally the fan-out still shares the stack's process, in AWS the response would be one Invoke round trip), and the participant cap (${r.fanout.participants}) bounds that audience. `
        : `In AWS every PostToConnection and every asynchronous Lambda Invoke is a signed HTTPS call of the same kind, made in parallel over kept-alive connections, so a few pushes cost the request about one round trip to API Gateway, which is what handing them over would cost too (one Invoke round trip). `) +
      `One management API call made by the SDK client from this process costs ${fmt(c.postToConnection.p50)} p50 here, one at a time.`,
    '',
  ];
}

/** Inside the request against the asynchronous fan-out, measured by the same scenarios on two stacks. */
function fanoutComparison(inside: RealtimeFigures, handedOver: RealtimeFigures | undefined): string[] {
  if (!handedOver) return [];
  const pair = (a: LatencySummary, b: LatencySummary = a) => `${fmt(a.p50)} / ${fmt(b.p95)}`;
  const both = (label: string, of: (r: RealtimeFigures) => string) => row([label, of(inside), of(handedOver)]);
  const ms = (n: number | undefined) => (n === undefined ? 'n/a' : `${n.toFixed(3)} ms`);
  return [
    `The same scenarios on a second stack with \`LOCAL_WS_FANOUT=async\`: each write hands its push to the fan-out function (functions/ops/push-fanout.ts) with one asynchronous Lambda Invoke, and that function makes the PostToConnection calls after the response. Locally the fan-out runs in the stack's process, as the local Lambda endpoint runs every function; in AWS it is a Lambda of its own.`,
    '',
    row(['measurement', 'inside the request', 'asynchronous fan-out']),
    row(['---', '---:', '---:']),
    both("send → recipient's frame, p50 / p95", (r) => pair(r.delivery.recipient)),
    both(`send → the last of ${inside.delivery.socketsPerSend} sockets, p50 / p95`, (r) => pair(r.delivery.allSockets)),
    both("send's HTTP response, p50 / p95", (r) => pair(r.delivery.response)),
    both(`one message to ${inside.fanout.sockets} sockets: last frame, p50 / p95`, (r) => pair(r.fanout.last)),
    both(`one message to ${inside.fanout.sockets} sockets: HTTP response, p50 / p95`, (r) => pair(r.fanout.response)),
    both(
      'send, 32 concurrent: messages/s pushing / with no socket open',
      (r) =>
        `${r.throughput.pushOn.rps.toFixed(0)} / ${r.throughput.pushOff.rps.toFixed(0)} (${r.throughput.ratio.toFixed(2)} ×)`,
    ),
    both(
      'send, 32 concurrent, pushing: p50 / p95',
      (r) => `${fmt(r.throughput.pushOn.p50)} / ${fmt(r.throughput.pushOn.p95)}`,
    ),
    both('CPU per send, 32 concurrent, pushing: local stack', (r) => ms(r.throughput.cpuPerSendOn?.stack)),
    both(
      'frames per send under load; sends missing a frame',
      (r) => `${r.throughput.framesPerSend.toFixed(2)}; ${r.delivery.lost + r.fanout.lost}`,
    ),
    both('statements per send', (r) => String(r.throughput.statementsPerSendOn)),
    '',
  ];
}
