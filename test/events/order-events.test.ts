import { randomUUID } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MalformedEventError } from '../../functions/commons/event-handler';
import { handler as onOrderCreated } from '../../functions/events/on-order-created';
import { handler as onStatusChanged } from '../../functions/events/on-order-status-changed';
import { TestStack, type TestUser } from '../support/http-stack';
import { backend } from '../support/test-database';

let stack: TestStack;
let eventBridge: EventBridgeClient;

beforeAll(async () => {
  stack = await TestStack.start();
  eventBridge = stack.eventBridge();
});
afterAll(async () => {
  await stack?.close();
});

/** What the order service does: PutEvents through the real SDK client. */
async function emit(detailType: string, detail: object, options: { source?: string; time?: Date } = {}) {
  const out = await eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: options.source ?? 'order-service',
          DetailType: detailType,
          Detail: JSON.stringify(detail),
          Time: options.time,
        },
      ],
    }),
  );
  expect(out.FailedEntryCount).toBe(0);
  expect(out.Entries?.[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
  return out.Entries![0]!.EventId!;
}

/** Delivery is asynchronous, as in AWS: wait until the local bus has delivered (or given up). */
async function delivered() {
  await stack.server.bus.drain();
}

async function count(table: 'conversations' | 'messages' | 'orders', orderId: string): Promise<number> {
  const where =
    table === 'orders'
      ? sql`id = cast(${orderId} as uuid)`
      : table === 'conversations'
        ? sql`order_id = cast(${orderId} as uuid)`
        : sql`conversation_id IN (SELECT id FROM conversations WHERE order_id = cast(${orderId} as uuid))`;
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE ${where}`.execute(
    stack.database.db,
  );
  return rows[0]!.n;
}

async function orderConversation(user: TestUser, orderId: string) {
  const list = await stack.request('GET', `/v1/messages/conversations?orderId=${orderId}`, { token: user.token });
  expect(list.status).toBe(200);
  return list.body.items as Array<{
    id: string;
    subject: string;
    status: string;
    unreadCount: number;
    participants: Array<{ userId: string; role: string }>;
  }>;
}

/** An event as EventBridge hands it to the Lambda, for redeliveries of the very same event. */
const envelope = (detailType: string, detail: object, id = randomUUID(), time = new Date().toISOString()) => ({
  version: '0' as const,
  id,
  'detail-type': detailType,
  source: 'order-service',
  account: '000000000000',
  time,
  region: 'us-east-1',
  resources: [],
  detail,
});

describe(`order events on ${backend}`, () => {
  it('creates the order conversation with owner and provider, who then see it through the API', async () => {
    const owner = await stack.user();
    const provider = await stack.user(['service_provider']);
    const orderId = randomUUID();
    await emit('OrderCreated', {
      orderId,
      userId: owner.id,
      serviceProviderId: provider.id,
      title: 'Fix the sink',
      status: 'placed',
    });
    await delivered();
    const [conversation] = await orderConversation(owner, orderId);
    expect(conversation).toMatchObject({ subject: 'Fix the sink', status: 'active', unreadCount: 0 });
    expect(conversation!.participants.map((p) => [p.userId, p.role]).sort()).toEqual(
      [
        [owner.id, 'user'],
        [provider.id, 'service_provider'],
      ].sort(),
    );
    await emit('OrderStatusChanged', { orderId, status: 'scheduled', version: 2 });
    await delivered();
    for (const user of [owner, provider]) {
      const [seen] = await orderConversation(user, orderId);
      expect(seen!.unreadCount).toBe(1);
    }
    const messages = await stack.request('GET', `/v1/messages/conversations/${conversation!.id}/messages`, {
      token: provider.token,
    });
    expect(messages.body.items).toEqual([
      expect.objectContaining({ kind: 'system', senderId: null, content: 'Order status changed to scheduled' }),
    ]);
  });

  it('costs one statement per event, and one read more to announce a conversation it creates or a provider it swaps', async () => {
    const orderId = randomUUID();
    const owner = randomUUID();
    const counted = async (run: () => Promise<unknown>) => {
      stack.database.counter.reset();
      await run();
      return stack.database.counter.roundTrips;
    };
    const { handler: onProviderAssigned } = await import('../../functions/events/on-order-service-provider-assigned');
    const { handler: onOrderDeleted } = await import('../../functions/events/on-order-deleted');
    // The conversation's participants arrive at the end of the projection's statement (the orders
    // trigger), so pushing conversation.created to them takes a read after it; once per order.
    expect(await counted(() => onOrderCreated(envelope('OrderCreated', { orderId, userId: owner })))).toBe(2);
    expect(await counted(() => onOrderCreated(envelope('OrderCreated', { orderId, userId: owner })))).toBe(1);
    // A new provider is announced with who the swap (the orders trigger, at the statement's end)
    // added and removed: a read after it. The same provider again changes nothing.
    const provider = randomUUID();
    const assigned = () =>
      onProviderAssigned(envelope('OrderServiceProviderAssigned', { orderId, serviceProviderId: provider }));
    expect(await counted(assigned)).toBe(2);
    expect(await counted(assigned)).toBe(1);
    expect(
      await counted(() => onStatusChanged(envelope('OrderStatusChanged', { orderId, status: 'accepted', version: 1 }))),
    ).toBe(1);
    expect(await counted(() => onOrderDeleted(envelope('OrderDeleted', { orderId })))).toBe(1);
  });

  it('records users it has never seen, and uses the order id as subject without a title', async () => {
    const owner = randomUUID();
    const orderId = randomUUID();
    await emit('OrderCreated', { orderId, userId: owner });
    await delivered();
    const token = await stack.token(owner);
    const [conversation] = await orderConversation({ id: owner, token }, orderId);
    expect(conversation!.subject).toBe(orderId);
  });

  it('gives one conversation for duplicates: the same event twice, new ids for the same order, and 10 at once', async () => {
    const owner = await stack.user();
    const provider = await stack.user(['service_provider']);
    const orderId = randomUUID();
    const detail = { orderId, userId: owner.id, serviceProviderId: provider.id, title: 'Paint' };
    const same = envelope('OrderCreated', detail);
    await onOrderCreated(same);
    await onOrderCreated(same);
    await emit('OrderCreated', detail);
    await emit('OrderCreated', detail);
    await Promise.all(Array.from({ length: 10 }, () => emit('OrderCreated', detail)));
    await Promise.all(Array.from({ length: 10 }, () => onOrderCreated(envelope('OrderCreated', detail))));
    await delivered();
    expect(await count('conversations', orderId)).toBe(1);
    const [conversation] = await orderConversation(owner, orderId);
    expect(conversation!.participants).toHaveLength(2);
    expect(stack.server.bus.report().failed).toEqual([]);

    const status = envelope('OrderStatusChanged', { orderId, status: 'accepted', version: 1 });
    await Promise.all(Array.from({ length: 10 }, () => onStatusChanged(status)));
    await Promise.all(
      Array.from({ length: 5 }, () => emit('OrderStatusChanged', { orderId, status: 'accepted', version: 1 })),
    );
    await delivered();
    expect(await count('messages', orderId)).toBe(1);
  });

  it('ends in the right state when status and provider events overtake OrderCreated', async () => {
    const owner = await stack.user();
    const provider = await stack.user(['service_provider']);
    const orderId = randomUUID();
    await emit('OrderStatusChanged', { orderId, status: 'accepted', version: 3 });
    await delivered();
    await emit('OrderServiceProviderAssigned', { orderId, serviceProviderId: provider.id });
    await delivered();
    expect(await count('conversations', orderId)).toBe(1);
    await emit('OrderCreated', { orderId, userId: owner.id, title: 'Move house', status: 'placed' });
    await delivered();

    const [conversation] = await orderConversation(owner, orderId);
    expect(conversation).toMatchObject({ subject: 'Move house', unreadCount: 1 });
    expect(conversation!.participants.map((p) => [p.userId, p.role]).sort()).toEqual(
      [
        [owner.id, 'user'],
        [provider.id, 'service_provider'],
      ].sort(),
    );
    const { rows } = await sql<{
      status: string;
    }>`SELECT status FROM orders WHERE id = cast(${orderId} as uuid)`.execute(stack.database.db);
    expect(rows[0]!.status).toBe('accepted'); // OrderCreated's older 'placed' does not win
  });

  it('never lets an older version overwrite a newer one, and posts nothing for it', async () => {
    const owner = await stack.user();
    const orderId = randomUUID();
    await emit('OrderCreated', { orderId, userId: owner.id });
    await delivered();
    await emit('OrderStatusChanged', { orderId, status: 'delivered', version: 5 });
    await delivered();
    await emit('OrderStatusChanged', { orderId, status: 'shipped', version: 4 });
    await emit('OrderStatusChanged', { orderId, status: 'cancelled', version: 5 });
    await delivered();
    const { rows } = await sql<{ status: string; status_version: string }>`
      SELECT status, status_version FROM orders WHERE id = cast(${orderId} as uuid)`.execute(stack.database.db);
    expect(rows[0]).toEqual({ status: 'delivered', status_version: '5' });
    expect(await count('messages', orderId)).toBe(1);
    // Without a version on the late event, changedAt orders them.
    await emit('OrderStatusChanged', { orderId, status: 'returned', changedAt: '2030-01-02T00:00:00Z', version: 6 });
    await delivered();
    await emit('OrderStatusChanged', { orderId, status: 'lost', changedAt: '2030-01-01T00:00:00Z' });
    await delivered();
    const after = await sql<{ status: string }>`SELECT status FROM orders WHERE id = cast(${orderId} as uuid)`.execute(
      stack.database.db,
    );
    expect(after.rows[0]!.status).toBe('returned');
  });

  it('closes the conversation on a closing status and reopens it on a newer open one', async () => {
    const owner = await stack.user();
    const orderId = randomUUID();
    await emit('OrderCreated', { orderId, userId: owner.id });
    await delivered();
    await emit('OrderStatusChanged', { orderId, status: 'cancelled', version: 1 });
    await delivered();
    const [closed] = await orderConversation(owner, orderId);
    expect(closed!.status).toBe('closed');
    const refused = await stack.request('POST', `/v1/messages/conversations/${closed!.id}/messages`, {
      token: owner.token,
      body: { content: 'why?' },
    });
    expect(refused.status).toBe(409);
    await emit('OrderStatusChanged', { orderId, status: 'placed', version: 2 });
    await delivered();
    const [open] = await orderConversation(owner, orderId);
    expect(open!.status).toBe('active');
  });

  it('replaces the provider, and concurrent reassignments end with the newest alone', async () => {
    const owner = await stack.user();
    const first = await stack.user(['service_provider']);
    const second = await stack.user(['service_provider']);
    const third = await stack.user(['service_provider']);
    const orderId = randomUUID();
    await emit('OrderCreated', { orderId, userId: owner.id, serviceProviderId: first.id });
    await delivered();
    const base = Date.now();
    await Promise.all([
      emit('OrderServiceProviderAssigned', { orderId, serviceProviderId: third.id }, { time: new Date(base + 2_000) }),
      emit('OrderServiceProviderAssigned', { orderId, serviceProviderId: second.id }, { time: new Date(base + 1_000) }),
    ]);
    await delivered();
    const [conversation] = await orderConversation(owner, orderId);
    expect(conversation!.participants.map((p) => p.userId).sort()).toEqual([owner.id, third.id].sort());
    expect(await orderConversation(first, orderId)).toEqual([]);
    expect(await orderConversation(second, orderId)).toEqual([]);
  });

  it('deletes the conversation and its messages with the order, and a late OrderCreated does not revive it', async () => {
    const owner = await stack.user();
    const orderId = randomUUID();
    await emit('OrderCreated', { orderId, userId: owner.id });
    await delivered();
    await emit('OrderStatusChanged', { orderId, status: 'accepted', version: 1 });
    await delivered();
    expect(await count('messages', orderId)).toBe(1);
    await emit('OrderDeleted', { orderId });
    await delivered();
    expect(await count('conversations', orderId)).toBe(0);
    expect(await count('messages', orderId)).toBe(0);
    await emit('OrderCreated', { orderId, userId: owner.id });
    await emit('OrderStatusChanged', { orderId, status: 'accepted', version: 2 });
    await delivered();
    expect(await count('conversations', orderId)).toBe(0);
    expect(await orderConversation(owner, orderId)).toEqual([]);
    const viaApi = await stack.request('POST', '/v1/messages/conversations', {
      token: owner.token,
      body: { type: 'order', orderId },
    });
    expect(viaApi.status).toBe(404);
  });

  it('writes nothing for malformed events, and fails them so they reach the failure destination', async () => {
    const orderId = randomUUID();
    const before = stack.server.bus.report().failed.length;
    const ids = [
      await emit('OrderCreated', { userId: randomUUID() }),
      await emit('OrderCreated', { orderId: 'order-1', userId: randomUUID() }),
      await emit('OrderCreated', { orderId, userId: 'not-a-uuid' }),
      await emit('OrderStatusChanged', { orderId, status: '' }),
      await emit('OrderServiceProviderAssigned', { orderId }),
    ];
    await emit('OrderRefunded', { orderId }); // no rule: accepted by the bus, delivered nowhere
    await emit('OrderCreated', { orderId, userId: randomUUID() }, { source: 'someone-else' }); // not our source
    await delivered();
    const failed = stack.server.bus.report().failed.slice(before);
    expect(failed.map((f) => f.eventId).sort()).toEqual([...ids].sort());
    expect(failed.every((f) => f.attempts === 3 && /^Malformed event/.test(f.error))).toBe(true);
    expect(await count('orders', orderId)).toBe(0);
    expect(await count('conversations', orderId)).toBe(0);

    const direct = await onOrderCreated(envelope('OrderCreated', { orderId: 42 })).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(MalformedEventError);

    // An envelope time PostgreSQL cannot read (a redrive or a direct invoke can carry one) is
    // malformed too, not a SQL error retried into the failure queue; an offset time is applied.
    for (const time of [
      '2026-01-01T00:00:00+16:00',
      '+275760-09-13T00:00:00Z',
      '0000-01-01T00:00:00Z',
      'Thu, 01 Jan 2026 00:00:00 GMT',
    ]) {
      const refused = await onStatusChanged(
        envelope('OrderStatusChanged', { orderId, status: 'paid' }, randomUUID(), time),
      ).catch((e: unknown) => e);
      expect(refused, time).toBeInstanceOf(MalformedEventError);
    }
    expect(await count('orders', orderId)).toBe(0);
    const applied = await onStatusChanged(
      envelope('OrderStatusChanged', { orderId, status: 'paid' }, randomUUID(), '2026-01-01T00:00:00+15:59'),
    );
    expect(applied).toMatchObject({ applied: true });
  });

  it('answers PutEvents as EventBridge does for bad entries', async () => {
    const out = await eventBridge.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'order-service', DetailType: 'OrderCreated', Detail: '{not json' },
          { Source: 'order-service', DetailType: 'OrderCreated', Detail: '{}', EventBusName: 'nobody' },
          { Source: 'order-service', DetailType: 'Nothing', Detail: '{}' },
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries?.map((e) => e.ErrorCode ?? 'ok')).toEqual([
      'MalformedDetail',
      'ResourceNotFoundException',
      'ok',
    ]);
  });
});
