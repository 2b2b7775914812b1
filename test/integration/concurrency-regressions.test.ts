import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import { ConflictError, NotFoundError, RateLimitedError } from '../../lib/messaging/errors';
import { MAX_PARTICIPANTS, MessagingService } from '../../lib/messaging/messaging-service';
import { OrderProjection } from '../../lib/messaging/order-projection';
import { newUser } from '../support/fixtures';
import { recount } from '../support/invariants';
import { backend, openTestDatabase } from '../support/test-database';

/**
 * The defects a hostile client found on PostgreSQL (issue 9), each replayed as it was seen. On
 * PGlite statements run one at a time, so these pass there trivially; on PostgreSQL and through
 * the Data API they failed before the writes moved their checks after the conversation's lock.
 */
let handle: DatabaseHandle;

beforeAll(async () => {
  handle = await openTestDatabase();
});
afterAll(async () => handle?.close());

/** Settles every promise; returns fulfilled values and rejection reasons. */
async function settle<T>(runs: Array<Promise<T>>) {
  const results = await Promise.allSettled(runs);
  return {
    ok: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    errors: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])),
  };
}

describe(`concurrency regressions on ${backend}`, () => {
  it('answers 409 to sends racing an admin close, stores nothing for them and consumes no rate', async () => {
    const service = new MessagingService(handle.db, { sendLimit: 1000, sendWindowSeconds: 60 });
    const admin = await newUser(service, 'admin');
    for (let round = 0; round < 6; round++) {
      const sender = await newUser(service);
      const other = await newUser(service);
      const conversation = await service.createConversation(sender, {
        type: 'support',
        participantIds: [other.userId],
      });
      const sends = Array.from({ length: 15 }, (_, i) =>
        service.sendMessage(sender, conversation.id, { content: `m${i}` }),
      );
      const close = service.adminSetConversationStatus(admin, conversation.id, 'closed');
      const { ok, errors } = await settle(sends);
      await close;
      for (const error of errors) {
        expect(error, String(error)).toBeInstanceOf(ConflictError);
        expect((error as ConflictError).code).toBe('conversation_closed');
      }
      expect(ok.length + errors.length).toBe(15);
      const facts = await recount(handle.db, conversation.id);
      expect(facts.messages).toBe(ok.length);
      expect(facts.lastMessageSeq).toBe(ok.length);
      expect(facts.seqsContiguous).toBe(true);
      // Only stored messages took a rate slot.
      const { rows } = await sql<{ slots: number }>`
        SELECT coalesce(cardinality(recent), 0) AS slots FROM rate_limits
         WHERE user_id = cast(${sender.userId} as uuid) AND action = 'send_message'`.execute(handle.db);
      expect(rows[0]?.slots ?? 0).toBe(ok.length);
    }
  });

  it('lets concurrent retries of one clientMessageId consume one rate slot and one seq', async () => {
    const service = new MessagingService(handle.db, { sendLimit: 20, sendWindowSeconds: 60 });
    const sender = await newUser(service);
    const other = await newUser(service);
    const conversation = await service.createConversation(sender, { type: 'general', participantIds: [other.userId] });
    for (let round = 0; round < 5; round++) {
      const clientMessageId = `retry-${round}`;
      const { ok, errors } = await settle(
        Array.from({ length: 20 }, () =>
          service.sendMessage(sender, conversation.id, { content: 'hello', clientMessageId }),
        ),
      );
      expect(errors).toEqual([]);
      expect(new Set(ok.map((r) => r.message.id)).size).toBe(1);
      expect(ok.filter((r) => r.created)).toHaveLength(1);
    }
    // 5 slots used of 20: exactly 15 more sends pass, the 16th is refused.
    for (let i = 0; i < 15; i++) await service.sendMessage(sender, conversation.id, { content: `more ${i}` });
    await expect(service.sendMessage(sender, conversation.id, { content: 'one too many' })).rejects.toBeInstanceOf(
      RateLimitedError,
    );
    const facts = await recount(handle.db, conversation.id);
    expect(facts.messages).toBe(20);
    expect(facts.lastMessageSeq).toBe(20);
    expect(facts.seqsContiguous).toBe(true);
  });

  it(`holds the cap of ${MAX_PARTICIPANTS} participants under 60 concurrent adds`, async () => {
    const service = new MessagingService(handle.db, { addParticipantLimit: 1000 });
    const owner = await newUser(service);
    const conversation = await service.createConversation(owner, { type: 'general', participantIds: [] });
    const people = await Promise.all(Array.from({ length: 60 }, () => newUser(service)));
    const { ok, errors } = await settle(people.map((p) => service.addParticipant(owner, conversation.id, p.userId)));
    expect(ok.filter((r) => r.added)).toHaveLength(MAX_PARTICIPANTS - 1);
    expect(errors).toHaveLength(60 - (MAX_PARTICIPANTS - 1));
    for (const error of errors) expect((error as ConflictError).code).toBe('conversation_full');
    const facts = await recount(handle.db, conversation.id);
    expect(facts.participants).toBe(MAX_PARTICIPANTS);
  });

  it('charges the add limit only for people actually added, exactly under concurrency', async () => {
    const service = new MessagingService(handle.db, { addParticipantLimit: 5, addParticipantWindowSeconds: 60 });
    const owner = await newUser(service);
    const conversation = await service.createConversation(owner, { type: 'general', participantIds: [] });
    const people = await Promise.all(Array.from({ length: 12 }, () => newUser(service)));
    const { ok, errors } = await settle(people.map((p) => service.addParticipant(owner, conversation.id, p.userId)));
    expect(ok).toHaveLength(5);
    expect(errors).toHaveLength(7);
    for (const error of errors) expect(error).toBeInstanceOf(RateLimitedError);
    // Adding someone already there is no new addition: it is answered, not refused.
    expect((await service.addParticipant(owner, conversation.id, ok[0]!.participant.userId)).added).toBe(false);
  });

  it('limits how many conversations one user creates, exactly under concurrency', async () => {
    const service = new MessagingService(handle.db, {
      createConversationLimit: 4,
      createConversationWindowSeconds: 60,
    });
    const spammer = await newUser(service);
    const victim = await newUser(service);
    const { ok, errors } = await settle(
      Array.from({ length: 10 }, () =>
        service.createConversation(spammer, { type: 'general', participantIds: [victim.userId] }),
      ),
    );
    expect(ok).toHaveLength(4);
    expect(errors).toHaveLength(6);
    for (const error of errors) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect((error as RateLimitedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect((error as RateLimitedError).retryAfterSeconds).toBeLessThanOrEqual(60);
    }
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM conversations WHERE created_by = cast(${spammer.userId} as uuid)`.execute(
      handle.db,
    );
    expect(rows[0]!.n).toBe(4);
  });

  it('lets read marks race the deletion of an order without a deadlock', async () => {
    const service = new MessagingService(handle.db);
    const orders = new OrderProjection(handle.db);
    for (let round = 0; round < 15; round++) {
      const owner = await newUser(service);
      const provider = await newUser(service, 'service_provider');
      const orderId = randomUUID();
      const { conversationId } = await orders.orderCreated({
        orderId,
        userId: owner.userId,
        serviceProviderId: provider.userId,
      });
      const sent = [];
      for (let i = 0; i < 5; i++)
        sent.push((await service.sendMessage(owner, conversationId!, { content: `m${i}` })).message);
      const { errors } = await settle<unknown>([
        ...sent.map((m) => service.markMessageRead(provider, m.id)),
        service.markConversationRead(provider, conversationId!),
        orders.orderDeleted({ orderId }),
      ]);
      // Reads that come after the deletion find nothing; nothing else may fail.
      for (const error of errors) expect(error, String(error)).toBeInstanceOf(NotFoundError);
    }
  });

  it('applies two unversioned status changes that share the envelope second, in arrival order', async () => {
    const orders = new OrderProjection(handle.db);
    const service = new MessagingService(handle.db);
    const owner = await newUser(service);
    const orderId = randomUUID();
    await orders.orderCreated({ orderId, userId: owner.userId, title: 'Same second' });
    const second = '2031-05-01T10:00:00Z';
    expect((await orders.statusChanged({ orderId, status: 'paid' }, second)).applied).toBe(true);
    expect((await orders.statusChanged({ orderId, status: 'shipped' }, second)).applied).toBe(true);
    // Redeliveries of either, at that same second, change nothing.
    expect((await orders.statusChanged({ orderId, status: 'paid' }, second)).applied).toBe(false);
    expect((await orders.statusChanged({ orderId, status: 'shipped' }, second)).applied).toBe(false);
    // An older second still loses; a newer one wins.
    expect((await orders.statusChanged({ orderId, status: 'placed' }, '2031-05-01T09:59:59Z')).applied).toBe(false);
    expect((await orders.statusChanged({ orderId, status: 'delivered' }, '2031-05-01T10:00:01Z')).applied).toBe(true);
    const { rows } = await sql<{ status: string; messages: string[] }>`
      SELECT o.status,
             (SELECT json_agg(m.content ORDER BY m.seq) FROM messages m JOIN conversations c ON c.id = m.conversation_id
               WHERE c.order_id = o.id) AS messages
        FROM orders o WHERE o.id = cast(${orderId} as uuid)`.execute(handle.db);
    expect(rows[0]).toEqual({
      status: 'delivered',
      messages: [
        'Order status changed to paid',
        'Order status changed to shipped',
        'Order status changed to delivered',
      ],
    });
  });
});
