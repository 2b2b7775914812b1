import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { OrderProjection } from '../../lib/messaging/order-projection';
import type { Caller } from '../../lib/messaging/types';
import { domainUnderTest } from '../support/domain';
import { conversationOf, newUser } from '../support/fixtures';
import { counted } from '../support/invariants';
import { RecordingPublisher } from '../support/recording-publisher';
import { backend } from '../support/test-database';

const publisher = new RecordingPublisher();
const domain = domainUnderTest({ sendLimit: 1000, sendWindowSeconds: 10 }, publisher);

/** A user with `devices` open connections, named `<label>-<n>`. */
async function connected(role: Caller['role'], label: string, devices = 1) {
  const caller = await newUser(domain.service, role);
  const connections = Array.from({ length: devices }, (_, i) => `${label}-${i + 1}-${randomUUID().slice(0, 8)}`);
  for (const id of connections) await domain.service.connect(id, caller.userId);
  return { caller, connections };
}

const sorted = (...ids: string[][]) => ids.flat().sort();

describe(`who hears of each change, on ${backend}`, () => {
  beforeEach(() => publisher.clear());

  it('tells participants of every change and nobody else, in one statement per write', async () => {
    const alice = await connected('user', 'alice', 2);
    const bob = await connected('service_provider', 'bob');
    const carol = await connected('agent', 'carol');
    const outsider = await connected('user', 'outsider');
    const admin = await connected('admin', 'admin');

    const conversation = await domain.service.createConversation(alice.caller, {
      type: 'general',
      participantIds: [bob.caller.userId],
    });
    expect(publisher.recipientsOf('conversation.created')).toEqual(sorted(alice.connections, bob.connections));
    expect(publisher.pushes[0]!.frame).toEqual({ type: 'conversation.created', data: conversation });

    publisher.clear();
    const { result: sent, roundTrips } = await counted(domain.handle, () =>
      domain.service.sendMessage(alice.caller, conversation.id, { content: 'hi', clientMessageId: 'c-1' }),
    );
    expect(roundTrips).toBe(1);
    // The sender's other device hears it too.
    expect(publisher.recipientsOf('message.created')).toEqual(sorted(alice.connections, bob.connections));
    expect(publisher.pushes[0]!.frame).toEqual({ type: 'message.created', data: sent.message });

    publisher.clear();
    await domain.service.sendMessage(alice.caller, conversation.id, { content: 'hi', clientMessageId: 'c-1' });
    expect(publisher.pushes).toEqual([]); // a retry was pushed when it was created

    const read = await domain.service.markConversationRead(bob.caller, conversation.id);
    expect(publisher.recipientsOf('conversation.read')).toEqual(sorted(alice.connections));
    expect(publisher.pushes[0]!.frame).toEqual({
      type: 'conversation.read',
      data: {
        conversationId: conversation.id,
        userId: bob.caller.userId,
        lastReadAt: read.lastReadAt,
        lastReadMessageId: sent.message.id,
      },
    });
    publisher.clear();
    await domain.service.markConversationRead(bob.caller, conversation.id);
    await domain.service.markMessageRead(bob.caller, sent.message.id);
    expect(publisher.pushes).toEqual([]); // the mark did not move

    const { roundTrips: addTrips } = await counted(domain.handle, () =>
      domain.service.addParticipant(alice.caller, conversation.id, carol.caller.userId),
    );
    expect(addTrips).toBe(1);
    expect(publisher.recipientsOf('participant.added')).toEqual(
      sorted(alice.connections, bob.connections, carol.connections),
    );
    expect(publisher.pushes[0]!.frame).toEqual({
      type: 'participant.added',
      data: { conversationId: conversation.id, userId: carol.caller.userId, role: 'agent' },
    });

    publisher.clear();
    const second = await domain.service.sendMessage(carol.caller, conversation.id, { content: 'second' });
    await domain.service.markMessageRead(alice.caller, second.message.id);
    expect(publisher.recipientsOf('conversation.read')).toEqual(sorted(bob.connections, carol.connections));

    publisher.clear();
    await domain.service.removeParticipant(admin.caller, conversation.id, carol.caller.userId);
    expect(publisher.recipientsOf('participant.removed')).toEqual(
      sorted(alice.connections, bob.connections, carol.connections),
    );
    publisher.clear();
    await domain.service.sendMessage(bob.caller, conversation.id, { content: 'after carol left' });
    await domain.service.adminSetConversationStatus(admin.caller, conversation.id, 'closed');
    expect(publisher.recipientsOf('message.created')).toEqual(sorted(alice.connections, bob.connections));
    expect(publisher.recipientsOf('conversation.updated')).toEqual(sorted(alice.connections, bob.connections));
    publisher.clear();
    await domain.service.adminSetConversationStatus(admin.caller, conversation.id, 'closed');
    expect(publisher.pushes).toEqual([]); // nothing changed

    // Neither the outsider nor the admin who never took part heard anything, nor carol after leaving.
    for (const id of [...outsider.connections, ...admin.connections]) expect(publisher.framesOf(id)).toEqual([]);
  });

  it('sends typing to the others at most once per 2 s, only in active conversations they are in', async () => {
    const alice = await connected('user', 'alice', 2);
    const bob = await connected('user', 'bob');
    const outsider = await connected('user', 'outsider');
    const conversation = await conversationOf(domain.service, alice.caller, bob.caller);
    publisher.clear();
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => domain.service.signalTyping(alice.caller, conversation.id)),
    );
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'throttled')).toHaveLength(4);
    expect(publisher.pushes).toEqual([
      {
        connectionIds: bob.connections,
        frame: { type: 'typing', data: { conversationId: conversation.id, userId: alice.caller.userId } },
      },
    ]);
    expect(await domain.service.signalTyping(outsider.caller, conversation.id)).toBe('not_found');
    expect(await domain.service.signalTyping(bob.caller, randomUUID())).toBe('not_found');
    const admin = await newUser(domain.service, 'admin');
    await domain.service.adminSetConversationStatus(admin, conversation.id, 'closed');
    expect(await domain.service.signalTyping(bob.caller, conversation.id)).toBe('closed');
  });

  it('forgets connections that are gone, disconnected or expired', async () => {
    const alice = await connected('user', 'alice', 3);
    const bob = await connected('user', 'bob');
    const conversation = await conversationOf(domain.service, alice.caller, bob.caller);
    const [gone, disconnected, expired] = alice.connections as [string, string, string];
    publisher.gone.add(gone);
    await domain.service.disconnect(disconnected);
    await sql`UPDATE connections SET expires_at = now() - interval '1 second' WHERE connection_id = ${expired}`.execute(
      domain.handle.db,
    );
    publisher.clear();
    await domain.service.sendMessage(bob.caller, conversation.id, { content: 'one' });
    expect(publisher.recipientsOf('message.created')).toEqual(sorted([gone], bob.connections));
    const { rows } = await sql<{ connection_id: string }>`
      SELECT connection_id FROM connections WHERE connection_id IN (${gone}, ${disconnected})`.execute(
      domain.handle.db,
    );
    expect(rows).toEqual([]);
    publisher.clear();
    await domain.service.sendMessage(bob.caller, conversation.id, { content: 'two' });
    expect(publisher.recipientsOf('message.created')).toEqual(sorted(bob.connections));
    // A new connection of the same user drops their expired rows.
    await domain.service.connect(`alice-new-${randomUUID()}`, alice.caller.userId);
    const left = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM connections WHERE connection_id = ${expired}`.execute(domain.handle.db);
    expect(left.rows[0]!.n).toBe(0);
  });

  it('pushes the order conversation an order event creates, and its status messages', async () => {
    const owner = await connected('user', 'owner');
    const provider = await connected('service_provider', 'provider');
    const orders = new OrderProjection(domain.handle.db);
    const orderId = randomUUID();
    const created = await orders.orderCreated({
      orderId,
      userId: owner.caller.userId,
      serviceProviderId: provider.caller.userId,
      title: 'Fix the sink',
    });
    expect(created.created).toBe(true);
    await domain.service.announceOrderChange(created);
    expect(publisher.recipientsOf('conversation.created')).toEqual(sorted(owner.connections, provider.connections));
    publisher.clear();
    const again = await orders.orderCreated({ orderId, userId: owner.caller.userId, title: 'Fix the sink' });
    expect(again.created).toBe(false);
    await domain.service.announceOrderChange(again);
    expect(publisher.pushes).toEqual([]);
    const status = await orders.statusChanged({ orderId, status: 'in_progress', version: 2 }, new Date().toISOString());
    await domain.service.announceOrderChange(status);
    expect(publisher.recipientsOf('message.created')).toEqual(sorted(owner.connections, provider.connections));
    const pushed = publisher.pushes[0]!.frame;
    expect(pushed.type === 'message.created' && pushed.data).toMatchObject({
      kind: 'system',
      content: 'Order status changed to in_progress',
    });
  });
});
