import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { uuid } from '../../lib/db/casts';
import { type DomainEventType, domainEvents } from '../../lib/events/domain-events';
import { callsOf, type EventPublisher, relayOutbox } from '../../lib/events/outbox-relay';
import { claimOutboxEvents, type OutboxEvent } from '../../lib/messaging/outbox';
import { domainUnderTest } from '../support/domain';
import { conversationOf, newUser } from '../support/fixtures';
import { counted } from '../support/invariants';
import { backend } from '../support/test-database';

// Its own database: another file's local stack relays every unpublished event of the database it shares.
const domain = domainUnderTest(undefined, undefined, 'outbox');

/** The outbox rows of one conversation, oldest first. */
async function eventsOf(conversationId: string) {
  const { rows } = await sql<{ id: string; detail_type: string; detail: any; published_at: Date | null }>`
    SELECT id, detail_type, detail, published_at FROM outbox_events
     WHERE detail->>'conversationId' = ${conversationId} ORDER BY created_at, detail_type`.execute(domain.handle.db);
  return rows.map((r) => ({ ...r, detail: typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail }));
}

/** A publisher that records what it was given, and refuses the events `refuse` names. */
function recordingPublisher(refuse: (event: OutboxEvent) => boolean = () => false) {
  const put: OutboxEvent[] = [];
  const publisher: EventPublisher = {
    async put(events) {
      expect(events.length).toBeLessThanOrEqual(10);
      put.push(...events);
      return { accepted: events.filter((e) => !refuse(e)).map((e) => e.id) };
    },
  };
  return { put, publisher };
}

describe(`the outbox on ${backend}`, () => {
  it('queues each change in its own statement, with a detail that fits its published schema', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const carol = await newUser(domain.service);
    const admin = await newUser(domain.service, 'admin');
    const conversation = await conversationOf(domain.service, alice, bob);
    const { result, roundTrips } = await counted(domain.handle, () =>
      domain.service.sendMessage(alice, conversation.id, { content: 'hello' }),
    );
    expect(roundTrips).toBe(1);
    const message = result.message;
    await domain.service.markMessageRead(bob, message.id);
    await domain.service.addParticipant(alice, conversation.id, carol.userId);
    await domain.service.removeParticipant(carol, conversation.id, carol.userId);
    await domain.service.adminSetConversationStatus(admin, conversation.id, 'closed');
    await domain.service.adminSetConversationStatus(admin, conversation.id, 'closed'); // no change, no event

    const events = await eventsOf(conversation.id);
    const types = events.map((e) => e.detail_type);
    expect(types.filter((t) => t === 'ConversationCreated')).toHaveLength(1);
    expect(types.filter((t) => t === 'ParticipantAdded')).toHaveLength(3);
    expect(types.filter((t) => t === 'MessageSent')).toHaveLength(1);
    expect(types.filter((t) => t === 'MessageRead')).toHaveLength(1);
    expect(types.filter((t) => t === 'ParticipantRemoved')).toHaveLength(1);
    expect(types.filter((t) => t === 'ConversationStatusChanged')).toHaveLength(1);
    // As the relay publishes them: each detail fits its schema, with the row's id as its eventId.
    const relayed = recordingPublisher();
    await relayOutbox(domain.service.domain, relayed.publisher);
    const published = relayed.put.filter((e) => e.detail.conversationId === conversation.id);
    expect(published.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
    for (const event of published) {
      const schema = domainEvents[event.detailType as DomainEventType];
      const parsed = schema.safeParse(event.detail);
      expect(parsed.success, `${event.detailType}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      expect(event.detail.eventId).toBe(event.id);
    }
    const sent = events.find((e) => e.detail_type === 'MessageSent')!.detail;
    expect(sent).toMatchObject({ messageId: message.id, senderId: alice.userId, content: 'hello', kind: 'user' });
    const read = events.find((e) => e.detail_type === 'MessageRead')!.detail;
    expect(read).toMatchObject({ userId: bob.userId, lastReadMessageId: message.id });
  });

  it('sends nothing for marking unread, and no ParticipantRemoved when the whole conversation goes', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice, bob);
    const sent = await domain.service.sendMessage(alice, conversation.id, { content: 'one' });
    await domain.service.markConversationRead(bob, conversation.id);
    const before = (await eventsOf(conversation.id)).length;
    await domain.service.markMessageUnread(bob, sent.message.id);
    expect(await eventsOf(conversation.id)).toHaveLength(before);
    await sql`DELETE FROM conversations WHERE id = ${uuid(conversation.id)}`.execute(domain.handle.db);
    expect((await eventsOf(conversation.id)).filter((e) => e.detail_type === 'ParticipantRemoved')).toHaveLength(0);
  });

  it('relays every event once, records it once, and leaves refused ones for a later run', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice, bob);
    for (let i = 0; i < 12; i++) await domain.service.sendMessage(alice, conversation.id, { content: `m${i}` });
    const mine = new Set((await eventsOf(conversation.id)).map((e) => e.id));
    // The other tests' events share the table: this one counts its own.
    const refusedOnce = new Set<string>();
    const first = recordingPublisher((e) => {
      if (!mine.has(e.id) || refusedOnce.size >= 3 || refusedOnce.has(e.id)) return false;
      refusedOnce.add(e.id);
      return true;
    });
    // Concurrent relays split the work: nothing is given to two of them.
    await Promise.all(
      [1, 2, 3].map(() => relayOutbox(domain.service.domain, first.publisher, { batch: 5, leaseSeconds: 1 })),
    );
    const given = first.put.filter((e) => mine.has(e.id)).map((e) => e.id);
    expect(new Set(given).size).toBe(given.length);
    expect(new Set(given)).toEqual(mine);
    let events = await eventsOf(conversation.id);
    expect(
      events
        .filter((e) => e.published_at === null)
        .map((e) => e.id)
        .sort(),
    ).toEqual([...refusedOnce].sort());
    // The refused ones wait for their lease, then go.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = recordingPublisher();
    await relayOutbox(domain.service.domain, second.publisher, { batch: 100, leaseSeconds: 1 });
    expect(
      second.put
        .filter((e) => mine.has(e.id))
        .map((e) => e.id)
        .sort(),
    ).toEqual([...refusedOnce].sort());
    events = await eventsOf(conversation.id);
    expect(events.every((e) => e.published_at !== null)).toBe(true);
    const third = recordingPublisher();
    await relayOutbox(domain.service.domain, third.publisher);
    expect(third.put.filter((e) => mine.has(e.id))).toEqual([]);
  });

  it('claims in one statement and splits PutEvents calls at 10 entries and 256 KB', async () => {
    const { roundTrips } = await counted(domain.handle, () =>
      claimOutboxEvents(domain.service.domain, { batch: 0 + 1, leaseSeconds: 1 }),
    );
    expect(roundTrips).toBe(1);
    const small = Array.from({ length: 23 }, (_, i) => ({
      id: String(i),
      detailType: 'MessageSent',
      detail: { content: 'x' },
      createdAt: new Date().toISOString(),
    }));
    expect(callsOf(small).map((c) => c.length)).toEqual([10, 10, 3]);
    const big = Array.from({ length: 3 }, (_, i) => ({ ...small[i]!, detail: { content: 'y'.repeat(100_000) } }));
    expect(callsOf(big).map((c) => c.length)).toEqual([2, 1]);
  });
});
