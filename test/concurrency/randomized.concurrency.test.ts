import { randomUUID } from 'node:crypto';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PARTICIPANTS } from '../../lib/messaging/limits';
import { defaultClosingStatuses, statusMessage } from '../../lib/messaging/order-projection';
import type { ServerFrame } from '../../lib/realtime/frames';
import type { TestStack } from '../support/http-stack';
import { invariantViolations, recountedUnread } from '../support/invariants';
import { backend, openPrivateTestDatabase } from '../support/test-database';
import { conversationOf, Device, settle } from '../support/ws-client';

/**
 * The randomized concurrency suite (issue 9): many clients issue random interleavings of every
 * write the API has, all at once against real PostgreSQL (directly, or through the Data API
 * path), then every invariant is checked against a recount from the tables. Runs only on the
 * PostgreSQL back ends: PGlite executes one statement at a time and cannot interleave.
 *
 * Size: CONCURRENCY_RUNS worlds (default 30) of up to CONCURRENCY_OPS operations each (default 100),
 * fired in two concurrent waves. A failure prints the seed; CONCURRENCY_SEED=<seed> replays the
 * same scenarios (the interleaving itself is the database's, so a replay makes it likely, not certain).
 * Before a release: `CONCURRENCY_RUNS=500 npm run test:concurrency` (the soak: about 5 minutes, ~37,000 operations).
 *
 * Real-time delivery joins it with real WebSocket clients of the local stack: devices connect,
 * disconnect, send typing frames and leave stale registry rows (a connection API Gateway closed
 * without a `$disconnect` we saw) while the writes run, and every frame each device received is
 * checked: nobody hears of a conversation they were never in, nor of a message sent after their
 * removal; a device connected throughout hears every message of the conversations its user
 * stayed in; stale rows are pruned by the next push that meets them.
 *
 * Attachments join it with real uploads: sends race for the same upload (exactly one wins),
 * uploads start under their rate limit, S3 delivers ObjectCreated again (the check reruns) and
 * the sweep runs, all during the writes; afterwards the bucket holds exactly the checked uploads.
 *
 * Notifications join it too: digest sweeps and outbox relays run during the writes, beside the
 * relays each write invokes; some claim and then crash (the claimed work is dropped), some sends
 * fail (SES paused), people mute conversations and turn email off. Afterwards, once the leases
 * have run out and a last sweep and relay have run: every queued email was sent exactly once (one
 * captured mail per sent row), none told anyone of their own message, and no participant was told
 * of the same message twice; every change has its event, and every event reached the bus exactly
 * once and is recorded as published.
 */
const runs = Number(process.env.CONCURRENCY_RUNS ?? 30);
const maxOps = Number(process.env.CONCURRENCY_OPS ?? 100);
const seed = process.env.CONCURRENCY_SEED ? Number(process.env.CONCURRENCY_SEED) : Math.floor(Math.random() * 2 ** 31);

// Small limits with a long window, so that the limits are reached in a run and nothing leaves a
// window during one: then every limit must hold exactly, and every slot must be accounted for.
const limits = {
  send: { limit: 6, windowSeconds: 3600 },
  createConversation: { limit: 3, windowSeconds: 3600 },
  addParticipant: { limit: 4, windowSeconds: 3600 },
  attachment: { limit: 5, windowSeconds: 3600 },
};
Object.assign(process.env, {
  SEND_RATE_LIMIT: String(limits.send.limit),
  SEND_RATE_WINDOW_SECONDS: String(limits.send.windowSeconds),
  CREATE_CONVERSATION_RATE_LIMIT: String(limits.createConversation.limit),
  CREATE_CONVERSATION_RATE_WINDOW_SECONDS: String(limits.createConversation.windowSeconds),
  ADD_PARTICIPANT_RATE_LIMIT: String(limits.addParticipant.limit),
  ADD_PARTICIPANT_RATE_WINDOW_SECONDS: String(limits.addParticipant.windowSeconds),
  ATTACHMENT_RATE_LIMIT: String(limits.attachment.limit),
  ATTACHMENT_RATE_WINDOW_SECONDS: String(limits.attachment.windowSeconds),
  // Digests fall due within a run; the sweeps and relays are the operations' (no timer).
  NOTIFY_DELAY_SECONDS: '1',
  NOTIFY_SEND_RATE: '1000',
  NOTIFY_SWEEP_SECONDS: '3600',
});

const ACTORS = 6; // users u0..u5 act; the admin acts too
const UPLOADS = 5; // uploads made while the world is built: actor 0's 0, 2 and 4 (rejected), actor 1's 1 and 3 (24 h old)
const POOL = 8; // users who are only ever added
const STATUSES = ['accepted', 'scheduled', 'paid', 'shipped', 'delivered', 'cancelled', 'reopened'];

type Op =
  | { kind: 'send'; actor: number; conv: number; clientMessageId: string | null; attachments: number[] | null }
  | { kind: 'setStatus'; conv: number; status: 'active' | 'closed' }
  | { kind: 'add'; actor: number; conv: number; target: number }
  | { kind: 'remove'; actor: number; conv: number; target: number }
  | { kind: 'markMessageRead'; actor: number; conv: number; message: number }
  | { kind: 'markConversationRead'; actor: number; conv: number }
  | { kind: 'create'; actor: number; others: number[] }
  | { kind: 'orderEvent'; event: number }
  | { kind: 'connect'; person: number }
  | { kind: 'disconnect'; device: number }
  | { kind: 'stale'; person: number }
  | { kind: 'typing'; device: number; conv: number }
  | { kind: 'edit'; actor: number; message: number }
  | { kind: 'delete'; actor: number; message: number }
  | { kind: 'react'; actor: number; message: number; emoji: string; add: boolean }
  | { kind: 'markUnread'; actor: number; conv: number; message: number }
  | { kind: 'attach'; actor: number; conv: number }
  | { kind: 'recheck'; attachment: number }
  | { kind: 'sweep' }
  | { kind: 'digest'; failing: boolean }
  | { kind: 'digestCrash' }
  | { kind: 'relay' }
  | { kind: 'relayCrash' }
  | { kind: 'mute'; reader: number; conv: number; muted: boolean }
  | { kind: 'optOut'; reader: number; email: boolean }
  | { kind: 'unsubscribe'; reader: number; forged: boolean }
  | { kind: 'bounce'; reader: number };

/** actor index ACTORS is the admin; targets index actors, then the pool. */
const actor = fc.integer({ min: 0, max: ACTORS });
/** The three conversations people manage (add, remove, close, reopen). */
const conv = fc.integer({ min: 0, max: 2 });
/** Those and the order's conversation, which order events manage: people send and read there. */
const anyConv = fc.integer({ min: 0, max: 3 });
const person = fc.integer({ min: 0, max: ACTORS + POOL - 1 });
/** Actors, the admin (ACTORS) and the host (ACTORS + 1), who has no device and so gets digests. */
const reader = fc.integer({ min: 0, max: ACTORS + 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      actor,
      conv: anyConv,
      clientMessageId: fc.option(fc.constantFrom('k0', 'k1', 'k2'), { nil: null }),
      attachments: fc.constant(null),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('setStatus' as const),
      conv,
      status: fc.constantFrom('active' as const, 'closed' as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), actor, conv, target: person }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), actor, conv, target: person }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('markMessageRead' as const),
      actor,
      conv: anyConv,
      message: fc.integer({ min: 0, max: 1 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('markConversationRead' as const), actor, conv: anyConv }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      actor: fc.integer({ min: 0, max: ACTORS - 1 }),
      others: fc.uniqueArray(person, { maxLength: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('orderEvent' as const), event: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('connect' as const), person }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), device: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), person }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('typing' as const), device: fc.nat(), conv: anyConv }) },
  // Messages that change: the two the actors 0 and 1 sent, and the host's seeded ones.
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('edit' as const), actor, message: fc.integer({ min: 0, max: 3 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), actor, message: fc.integer({ min: 0, max: 3 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('react' as const),
      actor,
      message: fc.integer({ min: 0, max: 3 }),
      emoji: fc.constantFrom('👍', '🎉', '😀'),
      add: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('markUnread' as const),
      actor,
      conv: anyConv,
      message: fc.integer({ min: 0, max: 1 }),
    }),
  },
  // Sends naming the world's uploads (actor 0's and 1's in the first conversation, one of them
  // rejected), mostly by an uploader in that conversation: concurrent sends race for the same
  // upload, and the others are refused for one reason or another.
  {
    weight: 5,
    arbitrary: fc.oneof(
      ...[0, 1].map((uploader) =>
        fc.record({
          kind: fc.constant('send' as const),
          actor: fc.constant(uploader),
          conv: fc.constantFrom(0, 0, 0, 0, 1),
          clientMessageId: fc.constant(null),
          // Mostly the sender's own uploads (0, 2 and the rejected 4 are actor 0's; 1 and 3 actor 1's).
          attachments: fc.constantFrom(
            ...(uploader === 0 ? [[0], [2], [0, 2], [2, 0], [4], [0, 1]] : [[1], [3], [1, 3], [3]]),
          ),
        }),
      ),
    ),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('attach' as const), actor, conv: anyConv }) },
  // S3 delivers ObjectCreated at least once: a duplicate runs the check again, during the sends.
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('recheck' as const),
      attachment: fc.integer({ min: 0, max: UPLOADS - 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('digest' as const), failing: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('digestCrash' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('relay' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('relayCrash' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('mute' as const), reader, conv: anyConv, muted: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('optOut' as const), reader, email: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), reader, forged: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bounce' as const), reader }) },
);

/**
 * The order's story: statuses in the order they happened, told by version or by time (then two
 * by two within one envelope second, when `sameSecond`), providers assigned one after another,
 * and in one story of four the order deleted at the end.
 */
const orderStory = fc.record({
  versioned: fc.boolean(),
  sameSecond: fc.boolean(),
  statuses: fc.uniqueArray(fc.constantFrom(...STATUSES), { minLength: 1, maxLength: 5 }),
  providers: fc.integer({ min: 1, max: 3 }),
  deleted: fc.constantFrom(false, false, false, true),
});
type OrderStory = typeof orderStory extends fc.Arbitrary<infer T> ? T : never;

const scenario = fc.record({
  story: orderStory,
  waves: fc.tuple(
    fc.array(op, { minLength: Math.ceil(maxOps / 4), maxLength: Math.ceil(maxOps / 2), size: 'max' }),
    fc.array(op, { minLength: Math.ceil(maxOps / 4), maxLength: Math.floor(maxOps / 2), size: 'max' }),
  ),
});

/** What each operation may answer; anything else, and any 5xx, is a failure. */
const allowed: Record<Op['kind'], number[]> = {
  send: [200, 201, 400, 404, 409, 422, 429],
  setStatus: [200],
  add: [200, 201, 404, 409, 422, 429],
  remove: [204, 403, 404],
  markMessageRead: [200, 404],
  markConversationRead: [200, 404],
  create: [201, 429],
  orderEvent: [],
  connect: [0],
  disconnect: [0],
  stale: [0],
  typing: [0],
  edit: [200, 403, 404, 409],
  delete: [200, 403, 404],
  react: [200, 404, 409],
  markUnread: [200, 404],
  attach: [201, 404, 409, 429],
  recheck: [0],
  sweep: [0],
  digest: [0],
  digestCrash: [0],
  relay: [0],
  relayCrash: [0],
  mute: [200, 404],
  optOut: [200],
  unsubscribe: [200, 403],
  bounce: [0],
};

let stack: TestStack;
let onOrderCreated: (event: object) => Promise<unknown>;
let onStatusChanged: (event: object) => Promise<unknown>;
let onProviderAssigned: (event: object) => Promise<unknown>;
let onOrderDeleted: (event: object) => Promise<unknown>;
let onAttachmentUploaded: (event: object) => Promise<unknown>;
let notifications: typeof import('../../lib/messaging/digests') & typeof import('../../lib/messaging/outbox');
let domainOf: () => Promise<import('../../lib/messaging/sql').Domain>;
let unsubscribeLink: (userId: string) => Promise<string>;
let onEmailFeedback: (event: object) => Promise<unknown>;

beforeAll(async () => {
  // Imported after the limits are in the environment: the functions read it once, at load.
  const { TestStack } = await import('../support/http-stack');
  // A database of its own: another file's stack would sweep and relay this one's digests and events.
  stack = await TestStack.start(await openPrivateTestDatabase('randomized'));
  onOrderCreated = (await import('../../functions/events/on-order-created')).handler as never;
  onStatusChanged = (await import('../../functions/events/on-order-status-changed')).handler as never;
  onProviderAssigned = (await import('../../functions/events/on-order-service-provider-assigned')).handler as never;
  onOrderDeleted = (await import('../../functions/events/on-order-deleted')).handler as never;
  onAttachmentUploaded = (await import('../../functions/events/on-attachment-uploaded')).handler as never;
  notifications = { ...(await import('../../lib/messaging/digests')), ...(await import('../../lib/messaging/outbox')) };
  const { useRuntime } = await import('../../lib/runtime');
  domainOf = async () => (await useRuntime()).domain;
  const { unsubscribeUrl } = await import('../../lib/notifications/unsubscribe');
  const { config } = await import('../../lib/runtime');
  unsubscribeLink = (userId) => unsubscribeUrl(config.notifications, userId);
  onEmailFeedback = (await import('../../functions/events/on-email-feedback')).handler as never;
  console.log(
    `randomized concurrency suite on ${backend}: seed ${seed}, ${runs} runs of up to ${maxOps} operations (replay: CONCURRENCY_SEED=${seed})`,
  );
});
afterAll(async () => stack?.close());

const envelope = (detailType: string, detail: object, time: string) => ({
  version: '0',
  id: randomUUID(),
  'detail-type': detailType,
  source: 'order-service',
  account: '000000000000',
  time,
  region: 'us-east-1',
  resources: [],
  detail,
});

/** One world: fresh users and conversations, so runs never share rows. */
async function world() {
  const db = stack.database.db;
  const host = await stack.user();
  const admin = await stack.user(['admin']);
  const actors = await Promise.all(Array.from({ length: ACTORS }, () => stack.user()));
  const pool = await Promise.all(Array.from({ length: POOL }, () => stack.user()));
  const fillers = Array.from({ length: MAX_PARTICIPANTS - 4 }, () => randomUUID());
  await sql`INSERT INTO users (id) SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(fillers)} as jsonb))`.execute(
    db,
  );
  const create = async (participantIds: string[], type = 'general') => {
    const response = await stack.request('POST', '/v1/messages/conversations', {
      token: host.token,
      body: { type, participantIds },
    });
    if (response.status !== 201) throw new Error(`setup: ${response.status} ${response.text}`);
    return response.body.id as string;
  };
  const conversations = [
    await create([actors[0]!.id, actors[1]!.id, actors[2]!.id]),
    await create([actors[1]!.id, actors[3]!.id], 'support'),
    // One participant short of the cap but for three: concurrent adds reach it.
    await create([actors[0]!.id, ...fillers]),
  ];
  const seeded: string[][] = [];
  for (const id of conversations.slice(0, 2)) {
    const ids: string[] = [];
    for (const content of ['first', 'second']) {
      const sent = await stack.request('POST', `/v1/messages/conversations/${id}/messages`, {
        token: host.token,
        body: { content },
      });
      if (sent.status !== 201) throw new Error(`setup: ${sent.status} ${sent.text}`);
      ids.push(sent.body.id);
    }
    seeded.push(ids);
  }
  seeded.push([randomUUID(), randomUUID()]); // the crowded conversation has none: those ids answer 404
  // The order's conversation, as the order service's first event makes it; its owner writes first.
  const orderId = randomUUID();
  const owner = actors[4]!;
  await onOrderCreated(
    envelope(
      'OrderCreated',
      { orderId, userId: owner.id, serviceProviderId: actors[5]!.id, title: 'Randomized' },
      '2030-12-31T00:00:00Z',
    ),
  );
  const { rows } = await sql<{
    id: string;
  }>`SELECT id FROM conversations WHERE order_id = cast(${orderId} as uuid)`.execute(db);
  conversations.push(rows[0]!.id);
  const ids: string[] = [];
  for (const content of ['first', 'second']) {
    const sent = await stack.request('POST', `/v1/messages/conversations/${rows[0]!.id}/messages`, {
      token: owner.token,
      body: { content },
    });
    if (sent.status !== 201) throw new Error(`setup: ${sent.status} ${sent.text}`);
    ids.push(sent.body.id);
  }
  seeded.push(ids);
  // Messages of the actors 0 and 1 in the first conversation, which they may edit and delete.
  const changeable: string[] = [];
  for (const author of [actors[0]!, actors[1]!]) {
    const sent = await stack.request('POST', `/v1/messages/conversations/${conversations[0]}/messages`, {
      token: author.token,
      body: { content: 'mine' },
    });
    if (sent.status !== 201) throw new Error(`setup: ${sent.status} ${sent.text}`);
    changeable.push(sent.body.id);
  }
  changeable.push(seeded[0]![0]!, seeded[1]![1]!);
  // Real uploads through presigned PUTs, checked as S3's event makes it happen.
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]);
  const uploads: string[] = [];
  for (let i = 0; i < UPLOADS; i++) {
    const uploader = actors[i % 2]!;
    const body = i === UPLOADS - 1 ? Buffer.from('<html><script>alert(1)</script>'.padEnd(72)) : png;
    const started = await stack.request('POST', `/v1/messages/conversations/${conversations[0]}/attachments`, {
      token: uploader.token,
      body: { filename: `photo-${i}.png`, contentType: 'image/png', size: body.length },
    });
    if (started.status !== 201) throw new Error(`setup: ${started.status} ${started.text}`);
    const put = await fetch(started.body.upload.url, { method: 'PUT', headers: started.body.upload.headers, body });
    if (put.status !== 200) throw new Error(`setup: upload ${put.status} ${await put.text()}`);
    uploads.push(started.body.id);
  }
  await stack.server.attachments.s3.settled();
  // Everyone has an address, so anyone not connected may get digests; the setup's messages are
  // already due (a second old) when the writes start.
  const people = [host, admin, ...actors, ...pool].map((u) => u.id);
  await sql`UPDATE users SET email = id || '@example.test'
             WHERE id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(people)} as jsonb)))`.execute(
    db,
  );
  await sql`UPDATE messages SET created_at = created_at - interval '2 seconds'
             WHERE conversation_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(conversations)} as jsonb)))`.execute(
    db,
  );
  // One upload is past its 24 hours: the sweeps and the sends race for it (the send locks it; the
  // sweep skips what is locked; whichever commits first wins it whole).
  await sql`UPDATE attachments SET created_at = now() - interval '25 hours' WHERE id = cast(${uploads[3]} as uuid)`.execute(
    db,
  );
  const setupAttachments = new Map([
    [actors[0]!.id, 3],
    [actors[1]!.id, 2],
  ]);
  /** Sends each user made while the world was built: they hold rate slots too. */
  const setupSends = new Map([
    [owner.id, 2],
    [actors[0]!.id, 1],
    [actors[1]!.id, 1],
  ]);
  // One device per actor, the admin and two of the pool, open before the writes start.
  const devices: Array<{ user: string; device: Device; steady: boolean }> = [];
  for (const user of [...actors, admin, pool[0]!, pool[1]!]) {
    devices.push({ user: user.id, device: await Device.open(stack.url, user.token), steady: true });
  }
  const stale: Array<{ user: string; connectionId: string }> = [];
  const { rows: members } = await sql<{ conversation_id: string; user_id: string }>`
    SELECT conversation_id, user_id FROM conversation_participants
     WHERE conversation_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(conversations)} as jsonb)))`.execute(
    db,
  );
  /** Who was in each conversation when the writes started. */
  const initialMembers = new Map(conversations.map((id) => [id, new Set<string>()]));
  for (const m of members) initialMembers.get(m.conversation_id)!.add(m.user_id);
  return {
    host,
    admin,
    actors,
    pool,
    conversations,
    seeded,
    changeable,
    uploads,
    setupAttachments,
    orderId,
    setupSends,
    devices,
    stale,
    initialMembers,
  };
}

type World = Awaited<ReturnType<typeof world>>;

interface Observed {
  op: Op;
  status: number;
  body: any;
  startedAt: number;
  endedAt: number;
}

/** One order event; `status` marks the status changes, each of which posts one message when applied. */
interface OrderEventRun {
  status: boolean;
  run: () => Promise<unknown>;
}

function buildOrderEvents(world: World, story: OrderStory) {
  const base = Date.parse('2031-01-01T00:00:00Z') + Math.floor(Math.random() * 1e6) * 1000;
  const at = (k: number) => new Date(base + k * 1000).toISOString().replace('.000Z', 'Z');
  const owner = world.actors[4]!.id;
  const providers = [world.actors[5]!.id, world.pool[0]!.id, world.pool[1]!.id].slice(0, story.providers);
  const statusSecond = (i: number) => 10 + (story.sameSecond && !story.versioned ? Math.floor(i / 2) : i);
  const last = story.statuses.length - 1;
  // Statuses that share the newest second are applied in arrival order: any of them may end last.
  const newest = story.statuses.filter((_, i) =>
    story.versioned ? i === last : statusSecond(i) === statusSecond(last),
  );
  const events: OrderEventRun[] = [
    {
      status: false,
      run: () =>
        onOrderCreated(
          envelope(
            'OrderCreated',
            { orderId: world.orderId, userId: owner, serviceProviderId: providers[0], title: 'Randomized' },
            at(0),
          ),
        ),
    },
    ...story.statuses.map((status, i) => ({
      status: true,
      run: () =>
        onStatusChanged(
          envelope(
            'OrderStatusChanged',
            { orderId: world.orderId, status, ...(story.versioned ? { version: i + 1 } : {}) },
            at(statusSecond(i)),
          ),
        ),
    })),
    ...providers.map((provider, i) => ({
      status: false,
      run: () =>
        onProviderAssigned(
          envelope('OrderServiceProviderAssigned', { orderId: world.orderId, serviceProviderId: provider }, at(1 + i)),
        ),
    })),
    ...(story.deleted
      ? [{ status: false, run: () => onOrderDeleted(envelope('OrderDeleted', { orderId: world.orderId }, at(40))) }]
      : []),
  ];
  return {
    events,
    owner,
    providers,
    finalProvider: providers[providers.length - 1]!,
    newest,
    deleted: story.deleted,
  };
}

async function perform(world: World, order: ReturnType<typeof buildOrderEvents>, o: Op): Promise<Observed> {
  const who = (i: number) => (i === ACTORS ? world.admin : world.actors[i]!);
  const target = (i: number) => (i < ACTORS ? world.actors[i]! : world.pool[i - ACTORS]!).id;
  const conversation = (i: number) => world.conversations[i]!;
  const startedAt = performance.now();
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await stack.request(method, path, { token, body });
    return { op: o, status: response.status, body: response.body, startedAt, endedAt: performance.now() };
  };
  const done = (body: unknown = {}) => ({ op: o, status: 0, body, startedAt, endedAt: performance.now() });
  const person = (i: number) => (i < ACTORS ? world.actors[i]! : world.pool[i - ACTORS]!);
  switch (o.kind) {
    case 'send':
      return call('POST', `/v1/messages/conversations/${conversation(o.conv)}/messages`, who(o.actor).token, {
        content: `from ${o.actor}`,
        ...(o.clientMessageId ? { clientMessageId: o.clientMessageId } : {}),
        ...(o.attachments ? { attachmentIds: o.attachments.map((i) => world.uploads[i]) } : {}),
      });
    case 'attach':
      return call('POST', `/v1/messages/conversations/${conversation(o.conv)}/attachments`, who(o.actor).token, {
        filename: 'quote.pdf',
        contentType: 'application/pdf',
        size: 1000,
      });
    case 'recheck': {
      const key = `attachments/${world.conversations[0]}/${world.uploads[o.attachment]}`;
      try {
        return done(await onAttachmentUploaded({ Records: [{ s3: { object: { key } } }] }));
      } catch (error) {
        return { ...done(String(error)), status: 500 };
      }
    }
    case 'sweep':
      try {
        return done(await stack.server.attachments.sweep());
      } catch (error) {
        return { ...done(String(error)), status: 500 };
      }
    case 'digest':
    case 'digestCrash':
    case 'relay':
    case 'relayCrash':
      try {
        const domain = await domainOf();
        if (o.kind === 'digest' && o.failing) stack.server.notifications.ses.failNext(1);
        // A crash: the work is claimed, then the process dies before sending it.
        if (o.kind === 'digestCrash')
          return done(
            (await notifications.claimDigests(domain, { ...notifications.defaultDigestSettings, delaySeconds: 1 }))
              .length,
          );
        if (o.kind === 'relayCrash')
          return done((await notifications.claimOutboxEvents(domain, { batch: 20, leaseSeconds: 60 })).length);
        return done(
          o.kind === 'digest'
            ? await stack.server.notifications.sendDigests()
            : await stack.server.notifications.relay(),
        );
      } catch (error) {
        return { ...done(String(error)), status: 500 };
      }
    case 'mute':
      return call(
        'PATCH',
        `/v1/messages/conversations/${conversation(o.conv)}/notifications`,
        o.reader === ACTORS + 1 ? world.host.token : who(o.reader).token,
        { muted: o.muted },
      );
    case 'unsubscribe': {
      // The one-click POST of the reader's own link, or of one rewritten to name someone else.
      const reader = o.reader === ACTORS + 1 ? world.host : who(o.reader);
      const link = new URL(await unsubscribeLink(reader.id));
      if (o.forged) {
        const [payload, mac] = link.searchParams.get('token')!.split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
        const rewritten = Buffer.from(JSON.stringify({ ...claims, sub: world.host.id })).toString('base64url');
        link.searchParams.set('token', `${rewritten}.${mac}`);
      }
      const response = await fetch(link, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      return { op: o, status: response.status, body: await response.json(), startedAt, endedAt: performance.now() };
    }
    case 'bounce': {
      const reader = o.reader === ACTORS + 1 ? world.host : who(o.reader);
      try {
        return done(
          await onEmailFeedback({
            ...envelope(
              'Email Bounced',
              {
                eventType: 'Bounce',
                bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: `${reader.id}@EXAMPLE.test` }] },
              },
              new Date().toISOString(),
            ),
            source: 'aws.ses',
          }),
        );
      } catch (error) {
        return { ...done(String(error)), status: 500 };
      }
    }
    case 'optOut':
      return call('PATCH', '/v1/me', o.reader === ACTORS + 1 ? world.host.token : who(o.reader).token, {
        notifications: { email: o.email },
      });
    case 'setStatus':
      return call('PATCH', `/v1/admin/messages/conversations/${conversation(o.conv)}`, world.admin.token, {
        status: o.status,
      });
    case 'add':
      return call('POST', `/v1/messages/conversations/${conversation(o.conv)}/participants`, who(o.actor).token, {
        userId: target(o.target),
      });
    case 'remove':
      return call(
        'DELETE',
        `/v1/messages/conversations/${conversation(o.conv)}/participants/${target(o.target)}`,
        who(o.actor).token,
      );
    case 'markMessageRead':
      return call('PATCH', `/v1/messages/${world.seeded[o.conv]![o.message]}/read`, who(o.actor).token);
    case 'markConversationRead':
      return call('PATCH', `/v1/messages/conversations/${conversation(o.conv)}/read`, who(o.actor).token);
    case 'create':
      return call('POST', '/v1/messages/conversations', who(o.actor).token, {
        type: 'general',
        participantIds: o.others.map(target),
      });
    case 'orderEvent': {
      const event = order.events[o.event % order.events.length]!;
      try {
        const outcome = (await event.run()) as { applied: boolean };
        return done({ statusApplied: event.status && outcome.applied });
      } catch (error) {
        return { ...done(String(error)), status: 500 };
      }
    }
    case 'connect': {
      const user = person(o.person);
      try {
        world.devices.push({ user: user.id, device: await Device.open(stack.url, user.token), steady: false });
        return done();
      } catch (error) {
        return { ...done(String(error)), status: 500 };
      }
    }
    case 'disconnect': {
      const open = world.devices.filter((d) => !d.steady);
      const chosen = open[o.device % Math.max(1, open.length)];
      if (chosen) await chosen.device.close();
      return done();
    }
    case 'stale': {
      // A connection API Gateway closed without the $disconnect reaching us: only its row is left.
      const connectionId = `stale-${randomUUID()}`;
      const user = person(o.person).id;
      await sql`INSERT INTO connections (connection_id, user_id, expires_at)
                VALUES (${connectionId}, cast(${user} as uuid), now() + interval '1 hour')`.execute(stack.database.db);
      world.stale.push({ user, connectionId });
      return done();
    }
    case 'edit':
      return call('PATCH', `/v1/messages/${world.changeable[o.message]}`, who(o.actor).token, {
        content: `edited by ${o.actor}`,
      });
    case 'delete':
      return call('DELETE', `/v1/messages/${world.changeable[o.message]}`, who(o.actor).token);
    case 'react':
      return call(
        o.add ? 'PUT' : 'DELETE',
        `/v1/messages/${world.changeable[o.message]}/reactions/${encodeURIComponent(o.emoji)}`,
        who(o.actor).token,
      );
    case 'markUnread':
      return call('PATCH', `/v1/messages/${world.seeded[o.conv]![o.message]}/unread`, who(o.actor).token);
    case 'typing': {
      const chosen = world.devices[o.device % world.devices.length]!;
      if (chosen.device.socket.readyState === chosen.device.socket.OPEN) {
        chosen.device.send({ action: 'typing', conversationId: conversation(o.conv) });
      }
      return done();
    }
  }
}

/**
 * Read marks by participant row: a row that stays must never see its mark move back. The join
 * time tells a row that stayed from one removed and added again within a wave, which starts over.
 */
async function readMarks(conversationIds: string[]) {
  const { rows } = await sql<{ id: string; seq: number; joined: string }>`
    SELECT conversation_id || ':' || user_id AS id, last_read_seq::int AS seq, joined_at::text AS joined
      FROM conversation_participants
     WHERE conversation_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(conversationIds)} as jsonb)))`.execute(
    stack.database.db,
  );
  return new Map(rows.map((r) => [r.id, { seq: r.seq, joined: r.joined }]));
}

async function check(
  world: World,
  order: ReturnType<typeof buildOrderEvents>,
  observed: Observed[],
  marks: Array<Awaited<ReturnType<typeof readMarks>>>,
) {
  const db = stack.database.db;
  const problems: string[] = [];
  for (const o of observed) {
    if (o.op.kind === 'orderEvent' ? o.status !== 0 : !allowed[o.op.kind].includes(o.status)) {
      problems.push(`${JSON.stringify(o.op)} answered ${o.status}: ${JSON.stringify(o.body)}`);
    }
  }
  // An unsubscribe link works for its own user only: one rewritten to name another is refused.
  for (const o of observed) {
    if (o.op.kind !== 'unsubscribe') continue;
    const expected = o.op.forged && o.op.reader !== ACTORS + 1 ? 403 : 200;
    if (o.status !== expected) problems.push(`${JSON.stringify(o.op)} answered ${o.status}, not ${expected}`);
  }
  const created = observed.filter((o) => o.op.kind === 'create' && o.status === 201).map((o) => o.body.id as string);
  const conversationIds = [...world.conversations, ...created];
  const everyone = [world.host, world.admin, ...world.actors, ...world.pool].map((u) => u.id);
  problems.push(
    ...(await invariantViolations(
      db,
      { conversationIds, senderIds: everyone },
      { maxParticipants: MAX_PARTICIPANTS, send: limits.send },
    )),
  );
  // The unread total as the endpoint answers it, against a recount from the tables: others' live
  // messages after the read mark, in every conversation the user is in.
  for (const user of [world.host, world.admin, ...world.actors, ...world.pool]) {
    const answer = await stack.request('GET', '/v1/messages/unread', { token: user.token });
    const { rows } = await sql<{ unread: number; conversations: number }>`
      SELECT coalesce(sum(r.n), 0)::int AS unread, count(*) FILTER (WHERE r.n > 0)::int AS conversations
        FROM (SELECT ${recountedUnread} AS n
                FROM conversation_participants p WHERE p.user_id = cast(${user.id} as uuid)) r`.execute(db);
    const recounted = { unreadCount: rows[0]!.unread, conversationCount: rows[0]!.conversations };
    if (
      answer.status !== 200 ||
      answer.body.unreadCount !== recounted.unreadCount ||
      answer.body.conversationCount !== recounted.conversationCount
    )
      problems.push(
        `unread total of ${user.id}: answered ${answer.status} ${JSON.stringify(answer.body)}, recounted ${JSON.stringify(recounted)}`,
      );
  }

  // Every 201 is exactly one stored message, and every retry returns the stored one (a deleted
  // order took its conversation's messages with it).
  const orderConversation = world.conversations[3];
  const sends = observed.filter((o) => o.op.kind === 'send' && (o.status === 201 || o.status === 200));
  const kept = sends.filter((o) => !(order.deleted && o.body.conversationId === orderConversation));
  const { rows: stored } = await sql<{
    id: string;
    sender_id: string;
    conversation_id: string;
    client_message_id: string | null;
    content: string | null;
    changed: boolean;
  }>`
    SELECT id, sender_id, conversation_id, client_message_id, content,
           edited_at IS NOT NULL OR deleted_at IS NOT NULL AS changed FROM messages
     WHERE sender_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(everyone)} as jsonb)))`.execute(
    db,
  );
  const byId = new Map(stored.map((m) => [m.id, m]));
  const createdIds = sends.filter((o) => o.status === 201).map((o) => o.body.id as string);
  if (new Set(createdIds).size !== createdIds.length) problems.push('two 201s returned the same message');
  for (const o of kept) {
    const m = byId.get(o.body.id);
    if (!m || (!m.changed && m.content !== o.body.content) || m.sender_id !== o.body.senderId)
      problems.push(`send ${o.body.id} (${o.status}) is not stored as answered`);
    if (o.status === 200 && !o.body.clientMessageId) problems.push('a 200 send without clientMessageId');
  }
  for (const m of stored) {
    if (m.client_message_id === null || m.sender_id === world.host.id) continue;
    const answers = sends.filter(
      (o) =>
        o.body.senderId === m.sender_id &&
        o.body.conversationId === m.conversation_id &&
        o.body.clientMessageId === m.client_message_id,
    );
    if (answers.some((o) => o.body.id !== m.id))
      problems.push(`a retry of ${m.client_message_id} returned another message`);
  }

  // Every rate slot is one admitted action, and a refusal means the limit was reached exactly.
  const { rows: slots } = await sql<{ user_id: string; action: string; n: number }>`
    SELECT user_id, action, cardinality(recent) AS n FROM rate_limits
     WHERE user_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(everyone)} as jsonb)))`.execute(
    db,
  );
  const slotsOf = (user: string, action: string) =>
    slots.find((s) => s.user_id === user && s.action === action)?.n ?? 0;
  const people = [world.admin, ...world.actors];
  for (const [index, user] of people.entries()) {
    const actorIndex = index === 0 ? ACTORS : index - 1;
    const mine = (kind: Op['kind']) =>
      observed.filter((o) => o.op.kind === kind && 'actor' in o.op && o.op.actor === actorIndex);
    const admitted = {
      send_message: mine('send').filter((o) => o.status === 201).length + (world.setupSends.get(user.id) ?? 0),
      add_participant: mine('add').filter((o) => o.status === 201).length,
      create_conversation: mine('create').filter((o) => o.status === 201).length,
      create_attachment:
        mine('attach').filter((o) => o.status === 201).length + (world.setupAttachments.get(user.id) ?? 0),
    };
    const refused = {
      send_message: mine('send').some((o) => o.status === 429),
      add_participant: mine('add').some((o) => o.status === 429),
      create_conversation: mine('create').some((o) => o.status === 429),
      create_attachment: mine('attach').some((o) => o.status === 429),
    };
    const limitOf = {
      send_message: limits.send.limit,
      add_participant: limits.addParticipant.limit,
      create_conversation: limits.createConversation.limit,
      create_attachment: limits.attachment.limit,
    };
    for (const action of ['send_message', 'add_participant', 'create_conversation', 'create_attachment'] as const) {
      if (slotsOf(user.id, action) !== admitted[action])
        problems.push(`user ${index}: ${slotsOf(user.id, action)} ${action} slots for ${admitted[action]} admitted`);
      if (admitted[action] > limitOf[action])
        problems.push(`user ${index}: ${admitted[action]} ${action} over the limit`);
      if (refused[action] && admitted[action] !== limitOf[action])
        problems.push(`user ${index}: ${action} refused at ${admitted[action]} of ${limitOf[action]}`);
    }
  }

  // Read marks never move backwards for a participant row that stayed (snapshots around each
  // wave), but for a mark-unread of its own, the one deliberate way back.
  const who = (i: number) => (i === ACTORS ? world.admin.id : world.actors[i]!.id);
  const unmarked = new Set(
    observed.flatMap((o) =>
      o.op.kind === 'markUnread' && o.status === 200 ? [`${world.conversations[o.op.conv]}:${who(o.op.actor)}`] : [],
    ),
  );
  for (let i = 1; i < marks.length; i++) {
    for (const [id, { seq, joined }] of marks[i]!) {
      const before = marks[i - 1]!.get(id);
      if (before !== undefined && before.joined === joined && seq < before.seq && !unmarked.has(id))
        problems.push(`a read mark moved back from ${before.seq} to ${seq}`);
    }
  }

  // The order, once every event has also been delivered once more in order (as EventBridge's
  // retries eventually would): deleted, or one conversation whose status is one of the newest,
  // with one system message per applied status and the newest last, closed exactly when that
  // status closes it, and the owner and the newest provider as its participants.
  let applied = observed.filter((o) => o.op.kind === 'orderEvent' && o.body?.statusApplied).length;
  for (const event of order.events) {
    const outcome = (await event.run()) as { applied: boolean };
    if (event.status && outcome.applied) applied++;
  }
  const { rows } = await sql<{
    conversations: number;
    deleted: boolean;
    status: string | null;
    messages: string[] | null;
    conversation_status: string | null;
    participants: string[] | null;
  }>`
    SELECT (SELECT count(*)::int FROM conversations c WHERE c.order_id = o.id) AS conversations,
           o.deleted_at IS NOT NULL AS deleted, o.status,
           (SELECT json_agg(m.content ORDER BY m.seq) FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.order_id = o.id AND m.kind = 'system') AS messages,
           (SELECT c.status FROM conversations c WHERE c.order_id = o.id) AS conversation_status,
           (SELECT json_agg(p.user_id::text ORDER BY p.user_id) FROM conversation_participants p
              JOIN conversations c ON c.id = p.conversation_id WHERE c.order_id = o.id) AS participants
      FROM orders o WHERE o.id = cast(${world.orderId} as uuid)`.execute(db);
  const o = rows[0];
  const messages = o?.messages ?? [];
  if (!o) problems.push('the order is gone');
  else if (order.deleted) {
    if (!o.deleted || o.conversations !== 0)
      problems.push(`deleted order: tombstone ${o.deleted}, ${o.conversations} conversations`);
  } else if (o.conversations !== 1) problems.push(`order has ${o.conversations} conversations`);
  else {
    if (!o.status || !order.newest.includes(o.status))
      problems.push(`order status ${o.status}, newest ${order.newest.join(' or ')}`);
    if (messages[messages.length - 1] !== statusMessage(o.status ?? ''))
      problems.push(`last status message ${messages[messages.length - 1]}`);
    if (new Set(messages).size !== messages.length) problems.push(`a status message twice: ${messages.join(', ')}`);
    if (messages.length !== applied) problems.push(`${applied} statuses applied, ${messages.length} status messages`);
    const closed = defaultClosingStatuses.includes(o.status ?? '');
    if ((o.conversation_status === 'closed') !== closed)
      problems.push(`order conversation ${o.conversation_status} after ${o.status}`);
    const expected = [order.owner, order.finalProvider].sort();
    if (JSON.stringify(o.participants) !== JSON.stringify(expected))
      problems.push(`order participants ${o.participants}, expected ${expected}`);
  }
  // The order's conversation is recounted like the others, after the redelivery too.
  problems.push(
    ...(await invariantViolations(
      db,
      { conversationIds: [orderConversation!], senderIds: [] },
      { maxParticipants: MAX_PARTICIPANTS },
    )),
  );
  problems.push(...(await lifecycleViolations(world, observed)));
  problems.push(...(await attachmentViolations(world, observed)));
  problems.push(...(await realtimeViolations(world, order, observed)));
  problems.push(...(await notificationViolations(world, observed, conversationIds)));
  return problems;
}

/**
 * Digests and the outbox, once every operation has returned: the leases of crashed claims run
 * out (moved to now: the clock's part, after nothing is in flight any more), a last sweep and
 * relay run, and then every queued email is sent exactly once and every event published exactly
 * once (see the suite's comment).
 */
async function notificationViolations(world: World, observed: Observed[], conversationIds: string[]) {
  const problems: string[] = [];
  const db = stack.database.db;
  const people = [world.host, world.admin, ...world.actors, ...world.pool].map((u) => u.id);
  const ids = (values: string[]) =>
    sql`(SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(values)} as jsonb)))`;
  await stack.server.notifications.lambda.settled();
  const leasesRunOut = () =>
    sql`UPDATE email_digests SET lease_until = now() WHERE sent_at IS NULL AND failed_at IS NULL AND user_id IN ${ids(people)}`.execute(
      db,
    );
  await sql`UPDATE outbox_events SET lease_until = now() WHERE published_at IS NULL`.execute(db);
  // A failure left queued by a failing sweep that had nothing to send defers one more email.
  for (let i = 0; i < 20; i++) {
    await leasesRunOut();
    const run = await stack.server.notifications.sendDigests();
    if (run.claimed === 0) break;
  }
  for (let i = 0; i < 50; i++) {
    const run = await stack.server.notifications.relay();
    if (run.claimed === 0) break;
  }

  // Emails: each sent row is one captured mail to its recipient; none left unsent or failed.
  const { rows: digests } = await sql<{
    id: string;
    user_id: string;
    conversation_id: string;
    recipient: string;
    up_to_seq: string;
    content: any;
    sent_at: Date | null;
    failed_at: Date | null;
    failure: string | null;
    ses_message_id: string | null;
    queued_at: Date;
  }>`SELECT id, user_id, conversation_id, recipient, up_to_seq, content, sent_at, failed_at, failure, ses_message_id, queued_at
       FROM email_digests WHERE user_id IN ${ids(people)} ORDER BY queued_at, id`.execute(db);
  const mails = stack.server.notifications.ses
    .mail()
    .filter((m) => m.to.some((to) => people.includes(to.split('@')[0]!)));
  const mailById = new Map<string, number>();
  for (const m of mails) mailById.set(m.id, (mailById.get(m.id) ?? 0) + 1);
  const sent = digests.filter((d) => d.sent_at !== null);
  for (const d of digests) {
    // Unsent only when withdrawn: its recipient turned email off or muted before a retry.
    if (d.sent_at === null && !(d.failed_at !== null && String(d.failure).startsWith('withdrawn')))
      problems.push(`digest ${d.id} was never sent (${d.failure ?? 'still queued'})`);
    const content = typeof d.content === 'string' ? JSON.parse(d.content) : d.content;
    if (content.items.some((item: { senderId: string | null }) => item.senderId === d.user_id))
      problems.push(`digest ${d.id} tells ${d.user_id} of their own message`);
  }
  for (const d of sent) {
    const mail = mails.find((m) => m.id === d.ses_message_id);
    if (!mail || mailById.get(mail.id) !== 1) problems.push(`digest ${d.id} has no single mail`);
    else if (mail.to.join() !== d.recipient) problems.push(`digest ${d.id} went to ${mail.to.join()}`);
  }
  if (mails.length !== sent.length) problems.push(`${mails.length} mails for ${sent.length} sent digests`);
  // Never the same message twice to a participant who stayed: each digest covers newer messages.
  const removed = new Set(
    observed.flatMap((o) => (o.op.kind === 'remove' && o.status === 204 ? [world.conversations[o.op.conv]] : [])),
  );
  const lastCovered = new Map<string, number>();
  for (const d of digests) {
    if (removed.has(d.conversation_id)) continue;
    const key = `${d.conversation_id}:${d.user_id}`;
    if (Number(d.up_to_seq) <= (lastCovered.get(key) ?? 0))
      problems.push(`a digest to ${d.user_id} covers ${d.conversation_id} up to ${d.up_to_seq} again`);
    lastCovered.set(key, Number(d.up_to_seq));
  }
  // Every such participant's notified_seq is where their last digest ended.
  const { rows: notified } = await sql<{ conversation_id: string; user_id: string; notified_seq: string }>`
    SELECT conversation_id, user_id, notified_seq FROM conversation_participants
     WHERE conversation_id IN ${ids(conversationIds)} AND notified_seq > 0`.execute(db);
  for (const p of notified) {
    const key = `${p.conversation_id}:${p.user_id}`;
    if (!removed.has(p.conversation_id) && lastCovered.get(key) !== Number(p.notified_seq))
      problems.push(`${key} notified up to ${p.notified_seq}, its last digest ends at ${lastCovered.get(key)}`);
  }

  // Events: each change has its event; every event was published, to the bus exactly once.
  const { rows: events } = await sql<{ id: string; detail_type: string; published_at: Date | null; subject: string }>`
    SELECT id, detail_type, published_at, coalesce(detail->>'messageId', detail->>'conversationId') AS subject
      FROM outbox_events WHERE cast(detail->>'conversationId' AS uuid) IN ${ids(conversationIds)}`.execute(db);
  const onBus = new Map<string, number>();
  const bus = await stack.request('GET', '/local/events');
  for (const envelope of bus.body.items as Array<{ source: string; detail: { eventId?: string } }>) {
    if (envelope.source !== 'messaging-service' || !envelope.detail.eventId) continue;
    onBus.set(envelope.detail.eventId, (onBus.get(envelope.detail.eventId) ?? 0) + 1);
  }
  for (const e of events) {
    if (e.published_at === null) problems.push(`event ${e.id} (${e.detail_type}) was never published`);
    if (onBus.get(e.id) !== 1)
      problems.push(`event ${e.id} (${e.detail_type}) reached the bus ${onBus.get(e.id) ?? 0} times`);
  }
  const { rows: messages } = await sql<{ id: string }>`
    SELECT id FROM messages WHERE conversation_id IN ${ids(conversationIds)}`.execute(db);
  const sentEvents = new Map<string, number>();
  for (const e of events)
    if (e.detail_type === 'MessageSent') sentEvents.set(e.subject, (sentEvents.get(e.subject) ?? 0) + 1);
  for (const m of messages) {
    if (sentEvents.get(m.id) !== 1)
      problems.push(`message ${m.id} has ${sentEvents.get(m.id) ?? 0} MessageSent events`);
  }
  const createdEvents = events.filter((e) => e.detail_type === 'ConversationCreated').map((e) => e.subject);
  for (const id of conversationIds.slice(0, 3))
    if (createdEvents.filter((c) => c === id).length !== 1)
      problems.push(`conversation ${id} lacks its ConversationCreated`);
  return problems;
}

/**
 * Every change is visible to `changedAfter`: paging a conversation from revision 0 returns each
 * of its messages exactly once, in strictly increasing revision order, each at or after every
 * revision a change of it answered; a tombstone has no content and no reactions.
 */
async function lifecycleViolations(world: World, observed: Observed[]): Promise<string[]> {
  const problems: string[] = [];
  for (const conversationId of world.conversations.slice(0, 3)) {
    const seen: Array<{
      id: string;
      revision: number;
      content: string | null;
      deletedAt: string | null;
      reactions: unknown[];
      attachments: unknown[];
    }> = [];
    let cursor: string | null = '0';
    while (cursor !== null) {
      const page: { status: number; body: any } = await stack.request(
        'GET',
        `/v1/messages/conversations/${conversationId}/messages?changedAfter=${cursor}&limit=7`,
        { token: world.admin.token },
      );
      if (page.status !== 200) {
        problems.push(`changedAfter answered ${page.status}`);
        break;
      }
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
    }
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM messages WHERE conversation_id = cast(${conversationId} as uuid)`.execute(
      stack.database.db,
    );
    if (seen.length !== rows[0]!.n || new Set(seen.map((m) => m.id)).size !== seen.length)
      problems.push(`changedAfter paged ${seen.length} messages of ${rows[0]!.n} in ${conversationId}`);
    for (let i = 1; i < seen.length; i++) {
      if (seen[i]!.revision <= seen[i - 1]!.revision) problems.push(`revisions out of order in ${conversationId}`);
    }
    const latest = new Map(seen.map((m) => [m.id, m]));
    for (const o of observed) {
      if (!['edit', 'delete', 'react'].includes(o.op.kind) || o.status !== 200) continue;
      const now = latest.get(o.body.id);
      if (o.body.conversationId === conversationId && (!now || now.revision < o.body.revision))
        problems.push(`a ${o.op.kind} of ${o.body.id} at revision ${o.body.revision} is not visible to changedAfter`);
    }
    for (const m of seen) {
      const empty = m.content === null && m.attachments.length === 0;
      if ((m.deletedAt === null) === empty || (m.deletedAt !== null && m.reactions.length > 0))
        problems.push(`message ${m.id} is half deleted`);
    }
  }
  return problems;
}

/**
 * Attachments, beyond the table invariants: each upload is in at most one message, and in the
 * one whose send answered 201 naming it; the rejected one in none; and once a last sweep has run,
 * the bucket holds exactly the objects of the checked uploads that are not deleted.
 */
async function attachmentViolations(world: World, observed: Observed[]): Promise<string[]> {
  const problems: string[] = [];
  const winners = new Map<string, string[]>();
  for (const o of observed) {
    if (o.op.kind !== 'send' || o.status !== 201 || !o.op.attachments) continue;
    for (const i of o.op.attachments)
      winners.set(world.uploads[i]!, [...(winners.get(world.uploads[i]!) ?? []), o.body.id]);
  }
  const { rows } = await sql<{ id: string; state: string; message_id: string | null }>`
    SELECT id, state, message_id FROM attachments
     WHERE id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(world.uploads)} as jsonb)))`.execute(
    stack.database.db,
  );
  const rowOf = new Map(rows.map((r) => [r.id, r]));
  for (const [id, messages] of winners) {
    if (messages.length > 1) problems.push(`attachment ${id} was sent in ${messages.length} messages`);
    const row = rowOf.get(id);
    // A row may be gone: its message was deleted and a sweep came.
    if (row && row.message_id !== messages[0])
      problems.push(`attachment ${id} belongs to ${row.message_id}, sent in ${messages[0]}`);
  }
  if (winners.has(world.uploads[UPLOADS - 1]!)) problems.push('the rejected upload was sent');
  for (const o of observed) {
    // `unknown`: the 24-hour-old upload, once a sweep has taken it (and its object with it).
    const verdicts =
      o.op.kind === 'recheck' && o.op.attachment === 3 ? ['ready', 'gone', 'unknown'] : ['ready', 'rejected', 'gone'];
    if (o.op.kind === 'recheck' && !verdicts.includes(o.body?.[0]?.verdict))
      problems.push(`a repeated check answered ${JSON.stringify(o.body)}`);
  }

  await stack.server.attachments.sweep();
  const { rows: ready } = await sql<{ key: string }>`
    SELECT 'attachments/' || conversation_id || '/' || id AS key FROM attachments
     WHERE state = 'ready' AND conversation_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(world.conversations)} as jsonb)))`.execute(
    stack.database.db,
  );
  const s3 = new S3Client({ endpoint: stack.url, forcePathStyle: true, region: process.env.AWS_REGION });
  const listed = await Promise.all(
    world.conversations.map((id) =>
      s3.send(new ListObjectsV2Command({ Bucket: stack.server.attachments.name, Prefix: `attachments/${id}/` })),
    ),
  );
  s3.destroy();
  const stored = listed.flatMap((l) => (l.Contents ?? []).map((o) => o.Key!));
  const expected = ready.map((r) => r.key).sort();
  if (JSON.stringify(stored.sort()) !== JSON.stringify(expected))
    problems.push(`the bucket holds ${stored.length} objects, ${expected.length} checked uploads are kept`);
  return problems;
}

/** What the devices heard, against who was in each conversation when. */
async function realtimeViolations(
  world: World,
  order: ReturnType<typeof buildOrderEvents>,
  observed: Observed[],
): Promise<string[]> {
  const problems: string[] = [];
  const person = (i: number) => (i < ACTORS ? world.actors[i]! : world.pool[i - ACTORS]!).id;
  const managed = world.conversations.slice(0, 3);
  // Everyone who was ever in each conversation during the run.
  const ever = new Map([...world.initialMembers].map(([id, members]) => [id, new Set(members)]));
  for (const o of observed) {
    if (o.op.kind === 'add' && o.status === 201) ever.get(world.conversations[o.op.conv]!)!.add(person(o.op.target));
    if (o.op.kind === 'create' && o.status === 201) {
      ever.set(o.body.id, new Set((o.body.participants as Array<{ userId: string }>).map((p) => p.userId)));
    }
  }
  for (const provider of order.providers) ever.get(world.conversations[3]!)!.add(provider);
  const removals = observed.filter((o) => o.op.kind === 'remove' && o.status === 204);
  const readds = (conversationId: string, user: string) =>
    observed.some(
      (o) =>
        o.op.kind === 'add' &&
        o.status === 201 &&
        world.conversations[o.op.conv] === conversationId &&
        person(o.op.target) === user,
    );
  const succeeded = observed.filter((o) => o.status >= 200 && o.status < 300);
  const conversationOfOp = (o: Observed) => ('conv' in o.op ? world.conversations[o.op.conv] : undefined);
  const actorOf = (o: Observed) =>
    'actor' in o.op ? (o.op.actor === ACTORS ? world.admin.id : world.actors[o.op.actor]!.id) : undefined;
  const messageOfOp = (o: Observed) =>
    o.op.kind === 'edit' || o.op.kind === 'delete' || o.op.kind === 'react'
      ? world.changeable[o.op.message]
      : o.op.kind === 'markMessageRead' || o.op.kind === 'markUnread'
        ? world.seeded[o.op.conv]?.[o.op.message]
        : undefined;
  /** Every request of the run that could have made this frame (a superset: more causes judge less). */
  const causesOf = (frame: ServerFrame): Observed[] => {
    switch (frame.type) {
      case 'message.created':
        return succeeded.filter((o) => o.op.kind === 'send' && o.body?.id === frame.data.id);
      case 'message.updated':
      case 'message.deleted':
        return succeeded.filter((o) => messageOfOp(o) === frame.data.id);
      case 'conversation.read':
        return succeeded.filter(
          (o) =>
            ['markConversationRead', 'markMessageRead', 'markUnread', 'send'].includes(o.op.kind) &&
            conversationOfOp(o) === frame.data.conversationId &&
            actorOf(o) === frame.data.userId,
        );
      case 'participant.added':
      case 'participant.removed':
        return succeeded.filter(
          (o) =>
            (o.op.kind === 'add' || o.op.kind === 'remove') &&
            conversationOfOp(o) === frame.data.conversationId &&
            person(o.op.target) === frame.data.userId,
        );
      case 'conversation.updated':
        return succeeded.filter((o) => o.op.kind === 'setStatus' && conversationOfOp(o) === frame.data.id);
      case 'typing':
        // Which device a typing op used depends on the devices connected when it ran: any typing
        // in the conversation counts.
        return observed.filter((o) => o.op.kind === 'typing' && conversationOfOp(o) === frame.data.conversationId);
      default:
        return [];
    }
  };

  await settle(200);
  for (const { user, device } of world.devices) {
    for (const frame of device.frames) {
      const about = conversationOf(frame);
      if (about === undefined) continue;
      if (!ever.get(about)?.has(user))
        problems.push(`a ${frame.type} about ${about} reached a device of ${user}, never in it`);
      if (!managed.includes(about) || readds(about, user)) continue;
      const left = removals.find(
        (o) => o.op.kind === 'remove' && world.conversations[o.op.conv] === about && person(o.op.target) === user,
      );
      // A request that started after the removal had returned committed after it, so its audience
      // could not hold the removed user: a frame all of whose possible causes started then is one
      // the user must never have heard. (A frame with no cause among the requests, a system
      // message, is not judged.)
      const causes = left ? causesOf(frame) : [];
      if (left && causes.length && causes.every((o) => o.startedAt > left.endedAt))
        problems.push(
          `a ${frame.type} about ${about} (${JSON.stringify(frame.data).slice(0, 120)}) reached ${user} after their removal had returned`,
        );
    }
  }
  // A device connected throughout hears every message of the conversations its user stayed in.
  for (const { user, device } of world.devices.filter((d) => d.steady)) {
    for (const [i, conversationId] of managed.entries()) {
      if (!world.initialMembers.get(conversationId)!.has(user)) continue;
      if (removals.some((o) => o.op.kind === 'remove' && o.op.conv === i && person(o.op.target) === user)) continue;
      const heard = new Set(
        device.about(conversationId).flatMap((f) => (f.type === 'message.created' ? [f.data.id] : [])),
      );
      for (const o of observed) {
        if (
          o.op.kind === 'send' &&
          o.status === 201 &&
          o.body.conversationId === conversationId &&
          !heard.has(o.body.id)
        )
          problems.push(`a device of ${user}, connected throughout, missed message ${o.body.id} of ${conversationId}`);
      }
    }
  }
  // Stale rows are pruned by the first push that meets them: a status change in each managed
  // conversation is pushed to all its participants (and, unlike a send, is not rate limited).
  for (const conversationId of managed) {
    const current = await stack.request('GET', `/v1/admin/messages/conversations/${conversationId}`, {
      token: world.admin.token,
    });
    const status = current.body.status === 'active' ? 'closed' : 'active';
    const changed = await stack.request('PATCH', `/v1/admin/messages/conversations/${conversationId}`, {
      token: world.admin.token,
      body: { status },
    });
    if (changed.status !== 200) problems.push(`the pruning status change answered ${changed.status}`);
  }
  const { rows: left } = await sql<{ connection_id: string }>`
    SELECT k.connection_id FROM connections k
     WHERE k.connection_id IN (SELECT value FROM jsonb_array_elements_text(cast(${JSON.stringify(world.stale.map((x) => x.connectionId))} as jsonb)))
       AND EXISTS (SELECT 1 FROM conversation_participants p
                    WHERE p.user_id = k.user_id
                      AND p.conversation_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(managed)} as jsonb))))`.execute(
    stack.database.db,
  );
  if (left.length) problems.push(`${left.length} stale connections of participants survived a push`);
  await Promise.all(world.devices.map((d) => d.device.close()));
  return problems;
}

describe(`randomized concurrency on ${backend}`, () => {
  it(`keeps every invariant under random concurrent writes (seed ${seed})`, { timeout: 600_000 }, async () => {
    let executed = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ story, waves }) => {
        const w = await world();
        const order = buildOrderEvents(w, story);
        const observed: Observed[] = [];
        const marks = [await readMarks(w.conversations)];
        for (const wave of waves) {
          observed.push(...(await Promise.all(wave.map((o) => perform(w, order, o)))));
          marks.push(await readMarks(w.conversations));
        }
        executed += observed.length;
        const problems = await check(w, order, observed, marks);
        expect(problems, `seed ${seed}`).toEqual([]);
      }),
      { seed, numRuns: runs, endOnFailure: true },
    );
    console.log(
      `randomized concurrency suite on ${backend}: ${runs} runs, ${executed} operations, every invariant held`,
    );
  });
});
