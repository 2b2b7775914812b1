import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  UnknownUsersError,
} from '../../lib/messaging/errors';
import { MessagingService, MESSAGE_PAGE_BYTE_BUDGET } from '../../lib/messaging/messaging-service';
import type { Caller, Message } from '../../lib/messaging/types';
import { newUser } from '../support/fixtures';
import { backend, openTestDatabase } from '../support/test-database';

let handle: DatabaseHandle;
let service: MessagingService;

beforeAll(async () => {
  handle = await openTestDatabase();
  service = new MessagingService(handle.db, { sendLimit: 1000, sendWindowSeconds: 10 });
});
afterAll(async () => handle?.close());

/**
 * The kept unread counts equal a recount from the messages, for every participant of these
 * conversations: the invariant the triggers and read-mark statements maintain.
 */
async function expectUnreadCountsExact(...conversationIds: string[]) {
  const { rows } = await sql<{ user_id: string; kept: number; recounted: number }>`
    SELECT p.user_id, p.unread_count AS kept,
           (SELECT count(*)::int FROM messages m
             WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq
               AND m.sender_id IS DISTINCT FROM p.user_id) AS recounted
      FROM conversation_participants p
     WHERE p.conversation_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(conversationIds)} as jsonb)))`.execute(handle.db);
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) expect(row.kept, `unread of ${row.user_id}`).toBe(row.recounted);
}

/** Runs one service call and returns its result with the round trips it cost. */
async function counted<T>(run: () => Promise<T>): Promise<{ result: T; roundTrips: number }> {
  handle.counter.reset();
  const result = await run();
  return { result, roundTrips: handle.counter.roundTrips };
}

async function conversationOf(...callers: Caller[]) {
  const [creator, ...others] = callers;
  return service.createConversation(creator!, {
    type: 'general',
    subject: 'Hello',
    participantIds: others.map((c) => c.userId),
  });
}

describe(`messaging service on ${backend}`, () => {
  it('creates a conversation with the creator and the named participants, in one statement', async () => {
    const alice = await newUser(service);
    const agent = await newUser(service, 'agent');
    const { result: conversation, roundTrips } = await counted(() =>
      service.createConversation(alice, { type: 'support', subject: '  Refund  ', participantIds: [agent.userId, agent.userId] }),
    );
    expect(roundTrips).toBe(1);
    expect(conversation).toMatchObject({ type: 'support', subject: 'Refund', status: 'active', orderId: null, unreadCount: 0, lastMessage: null });
    expect(conversation.participants.map((p) => [p.userId, p.role]).sort()).toEqual(
      [
        [alice.userId, 'user'],
        [agent.userId, 'agent'],
      ].sort(),
    );
  });

  it('names every unknown participant id and stores nothing', async () => {
    const alice = await newUser(service);
    const ghosts = [randomUUID(), randomUUID()].sort();
    const before = await service.listConversations(alice, {}, { limit: 50, offset: 0 });
    const error = await service
      .createConversation(alice, { type: 'general', participantIds: ghosts })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownUsersError);
    expect((error as UnknownUsersError).userIds).toEqual(ghosts);
    const after = await service.listConversations(alice, {}, { limit: 50, offset: 0 });
    expect(after.items).toHaveLength(before.items.length);
  });

  it('sends, lists with last message and unread count, and marks read, each in one statement', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const conversation = await conversationOf(alice, bob);

    const { result: sent, roundTrips: sendTrips } = await counted(() =>
      service.sendMessage(alice, conversation.id, { content: '  <script>alert(1)</script> hi  ' }),
    );
    expect(sendTrips).toBe(1);
    expect(sent.created).toBe(true);
    expect(sent.message).toMatchObject({ senderId: alice.userId, kind: 'user', content: '<script>alert(1)</script> hi', readAt: null });

    const { result: bobInbox, roundTrips: listTrips } = await counted(() =>
      service.listConversations(bob, {}, { limit: 20, offset: 0 }),
    );
    expect(listTrips).toBe(1);
    expect(bobInbox.items[0]).toMatchObject({ id: conversation.id, unreadCount: 1 });
    expect(bobInbox.items[0]!.lastMessage?.content).toBe('<script>alert(1)</script> hi');
    const aliceInbox = await service.listConversations(alice, {}, { limit: 20, offset: 0 });
    expect(aliceInbox.items[0]).toMatchObject({ id: conversation.id, unreadCount: 0 });

    const { result: total, roundTrips: totalTrips } = await counted(() => service.getUnreadTotal(bob));
    expect(totalTrips).toBe(1);
    expect(total).toEqual({ unreadCount: 1, conversationCount: 1 });

    const { result: read, roundTrips: readTrips } = await counted(() => service.markMessageRead(bob, sent.message.id));
    expect(readTrips).toBe(1);
    expect(read.readAt).not.toBeNull();
    expect(await service.getUnreadTotal(bob)).toEqual({ unreadCount: 0, conversationCount: 0 });

    // The sender reading their own message does not stamp read_at.
    const own = await service.sendMessage(alice, conversation.id, { content: 'second' });
    expect((await service.markMessageRead(alice, own.message.id)).readAt).toBeNull();

    const { result: detail, roundTrips: getTrips } = await counted(() => service.getConversation(bob, conversation.id));
    expect(getTrips).toBe(1);
    expect(detail.unreadCount).toBe(1);
    expect(detail.participants.find((p) => p.userId === bob.userId)?.lastReadAt).not.toBeNull();

    const { result: mark, roundTrips: markAllTrips } = await counted(() => service.markConversationRead(bob, conversation.id));
    expect(markAllTrips).toBe(1);
    expect(mark.unreadCount).toBe(0);
    expect((await service.getConversation(bob, conversation.id)).unreadCount).toBe(0);
  });

  it('pages messages by offset and by before/after cursors, oldest first', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const conversation = await conversationOf(alice, bob);
    const sent: Message[] = [];
    for (let i = 0; i < 7; i++) sent.push((await service.sendMessage(alice, conversation.id, { content: `m${i}` })).message);
    const ids = sent.map((m) => m.id);

    const { result: latest, roundTrips } = await counted(() =>
      service.listMessages(bob, conversation.id, { limit: 3, offset: 0 }),
    );
    expect(roundTrips).toBe(1);
    expect(latest.items.map((m) => m.id)).toEqual(ids.slice(4));
    expect(latest.nextCursor).toBe(ids[4]);

    const older = await service.listMessages(bob, conversation.id, { limit: 3, offset: 0, before: latest.nextCursor! });
    expect(older.items.map((m) => m.id)).toEqual(ids.slice(1, 4));
    const oldest = await service.listMessages(bob, conversation.id, { limit: 3, offset: 0, before: older.nextCursor! });
    expect(oldest.items.map((m) => m.id)).toEqual(ids.slice(0, 1));
    expect(oldest.nextCursor).toBeNull();

    const offsetPage = await service.listMessages(bob, conversation.id, { limit: 2, offset: 2 });
    expect(offsetPage.items.map((m) => m.id)).toEqual(ids.slice(3, 5));

    const newer = await service.listMessages(bob, conversation.id, { limit: 4, offset: 0, after: ids[1]! });
    expect(newer.items.map((m) => m.id)).toEqual(ids.slice(2, 6));
    expect(newer.nextCursor).toBe(ids[5]);
    const rest = await service.listMessages(bob, conversation.id, { limit: 4, offset: 0, after: newer.nextCursor! });
    expect(rest.items.map((m) => m.id)).toEqual(ids.slice(6));
    expect(rest.nextCursor).toBeNull();
    const nothingNew = await service.listMessages(bob, conversation.id, { limit: 4, offset: 0, after: ids[6]! });
    expect(nothingNew.items).toEqual([]);

    // A cursor from another conversation is refused, not silently ignored.
    const other = await conversationOf(alice, bob);
    const foreign = await service.sendMessage(alice, other.id, { content: 'elsewhere' });
    await expect(
      service.listMessages(bob, conversation.id, { limit: 3, offset: 0, before: foreign.message.id }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('stops a page of very large messages before the Data API 1 MiB response cap, and continues by cursor', async () => {
    const alice = await newUser(service);
    const conversation = await conversationOf(alice);
    const huge = '😀'.repeat(10_000); // 40,000 bytes of UTF-8 each
    await Promise.all(Array.from({ length: 30 }, () => service.sendMessage(alice, conversation.id, { content: huge })));
    const first = await service.listMessages(alice, conversation.id, { limit: 100, offset: 0 });
    expect(first.items.length).toBe(Math.floor(MESSAGE_PAGE_BYTE_BUDGET / (40_000 + 2)));
    expect(first.items.every((m) => m.content === huge)).toBe(true);
    expect(first.nextCursor).toBe(first.items[0]!.id);
    let seen = first.items.length;
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await service.listMessages(alice, conversation.id, { limit: 100, offset: 0, before: cursor });
      seen += page.items.length;
      cursor = page.nextCursor;
    }
    expect(seen).toBe(30);
  });

  it('returns the stored message when a clientMessageId is retried, sequentially and concurrently', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const conversation = await conversationOf(alice, bob);
    const first = await service.sendMessage(alice, conversation.id, { content: 'once', clientMessageId: 'c-1' });
    const retry = await service.sendMessage(alice, conversation.id, { content: 'once', clientMessageId: 'c-1' });
    expect(first.created).toBe(true);
    expect(retry).toEqual({ message: first.message, created: false });

    const racing = await Promise.all(
      Array.from({ length: 10 }, () => service.sendMessage(alice, conversation.id, { content: 'race', clientMessageId: 'c-2' })),
    );
    expect(new Set(racing.map((r) => r.message.id)).size).toBe(1);
    expect(racing.filter((r) => r.created)).toHaveLength(1);
    // Another sender may use the same client id.
    const bobs = await service.sendMessage(bob, conversation.id, { content: 'mine', clientMessageId: 'c-1' });
    expect(bobs.created).toBe(true);

    const page = await service.listMessages(bob, conversation.id, { limit: 100, offset: 0 });
    expect(page.items.map((m) => m.content)).toEqual(['once', 'race', 'mine']);
  });

  it('keeps the newer read mark under 100 concurrent pairs of older and newer mark-reads', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const conversation = await conversationOf(alice, bob);
    const older = await service.sendMessage(alice, conversation.id, { content: 'older' });
    const newer = await service.sendMessage(alice, conversation.id, { content: 'newer' });
    const after = await service.sendMessage(alice, conversation.id, { content: 'unread still' });
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        i % 2 ? service.markMessageRead(bob, older.message.id) : service.markMessageRead(bob, newer.message.id),
      ),
    );
    // Exactly one unread remains: the message after `newer`.
    expect((await service.getConversation(bob, conversation.id)).unreadCount).toBe(1);
    await service.markMessageRead(bob, older.message.id);
    expect((await service.getConversation(bob, conversation.id)).unreadCount).toBe(1);
    const page = await service.listMessages(bob, conversation.id, { limit: 10, offset: 0 });
    expect(page.items.map((m) => m.readAt !== null)).toEqual([true, true, false]);
    expect(page.items[2]!.id).toBe(after.message.id);
    await expectUnreadCountsExact(conversation.id);
  });

  it('keeps a gap-free order for a poller during 50 concurrent sends, and exact unread counts', async () => {
    const senders = await Promise.all(Array.from({ length: 5 }, () => newUser(service)));
    const reader = await newUser(service);
    const conversation = await conversationOf(senders[0]!, ...senders.slice(1), reader);

    const polled: Message[] = [];
    let sending = true;
    const poller = (async () => {
      for (;;) {
        // Only an empty poll that began after every send returned proves there is nothing left.
        const startedAfterSends = !sending;
        const page = await service.listMessages(reader, conversation.id, {
          limit: 100,
          offset: 0,
          ...(polled.length ? { after: polled[polled.length - 1]!.id } : {}),
        });
        polled.push(...page.items);
        if (startedAfterSends && page.items.length === 0) break;
      }
    })();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => service.sendMessage(senders[i % 5]!, conversation.id, { content: `n${i}` })),
    );
    sending = false;
    await poller;

    const all = await service.listMessages(reader, conversation.id, { limit: 100, offset: 0 });
    expect(all.items).toHaveLength(50);
    // The poller saw every message exactly once and in the final order: nothing committed behind its cursor.
    expect(polled.map((m) => m.id)).toEqual(all.items.map((m) => m.id));
    expect((await service.getConversation(reader, conversation.id)).unreadCount).toBe(50);
    expect(await service.getUnreadTotal(reader)).toEqual({ unreadCount: 50, conversationCount: 1 });
    // Each sender's own messages are never unread for them; others' are.
    const sender0 = await service.getConversation(senders[0]!, conversation.id);
    expect(sender0.unreadCount).toBeLessThanOrEqual(40);
    await expectUnreadCountsExact(conversation.id);
  });

  it('keeps unread counts exact while people send, join, leave and read at the same time', async () => {
    const people = await Promise.all(Array.from({ length: 6 }, () => newUser(service)));
    const [a, b, c, d, e, f] = people as [Caller, Caller, Caller, Caller, Caller, Caller];
    const conversation = await conversationOf(a, b, c);
    const first = await service.sendMessage(a, conversation.id, { content: 'start' });
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => service.sendMessage([a, b, c][i % 3]!, conversation.id, { content: `m${i}` })),
      service.addParticipant(a, conversation.id, d.userId),
      service.addParticipant(b, conversation.id, e.userId),
      service.addParticipant(c, conversation.id, f.userId).then(() => service.removeParticipant(f, conversation.id, f.userId)),
      ...Array.from({ length: 10 }, () => service.markMessageRead(b, first.message.id)),
      ...Array.from({ length: 5 }, () => service.markConversationRead(c, conversation.id)),
    ]);
    await expectUnreadCountsExact(conversation.id);
    const joined = await service.getConversation(d, conversation.id);
    expect(joined.unreadCount).toBe(31); // a joiner starts with every earlier message unread
    expect((await service.getUnreadTotal(e)).unreadCount).toBe(31);
  });

  it('gives one row and no error for 20 concurrent adds of the same participant', async () => {
    const alice = await newUser(service);
    const carol = await newUser(service, 'service_provider');
    const conversation = await conversationOf(alice);
    const { roundTrips } = await counted(() => service.addParticipant(alice, conversation.id, carol.userId));
    expect(roundTrips).toBe(1);
    await service.removeParticipant(alice.isAdmin ? alice : carol, conversation.id, carol.userId);
    const results = await Promise.all(Array.from({ length: 20 }, () => service.addParticipant(alice, conversation.id, carol.userId)));
    expect(results.filter((r) => r.added)).toHaveLength(1);
    const detail = await service.getConversation(alice, conversation.id);
    expect(detail.participants.filter((p) => p.userId === carol.userId)).toEqual([
      expect.objectContaining({ role: 'service_provider' }),
    ]);
    await expect(service.addParticipant(alice, conversation.id, randomUUID())).rejects.toBeInstanceOf(UnknownUsersError);
  });

  it('refuses a removed participant everything, with the same error as for a missing conversation', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const admin = await newUser(service, 'admin');
    const conversation = await conversationOf(alice, bob);
    const message = await service.sendMessage(alice, conversation.id, { content: 'before' });

    await expect(service.removeParticipant(alice, conversation.id, bob.userId)).rejects.toBeInstanceOf(ForbiddenError);
    const { roundTrips } = await counted(() => service.removeParticipant(bob, conversation.id, bob.userId));
    expect(roundTrips).toBe(1);

    const attempts: Array<() => Promise<unknown>> = [
      () => service.getConversation(bob, conversation.id),
      () => service.listMessages(bob, conversation.id, { limit: 10, offset: 0 }),
      () => service.sendMessage(bob, conversation.id, { content: 'after' }),
      () => service.markMessageRead(bob, message.message.id),
      () => service.markConversationRead(bob, conversation.id),
      () => service.addParticipant(bob, conversation.id, bob.userId),
    ];
    for (const attempt of attempts) await expect(attempt()).rejects.toBeInstanceOf(NotFoundError);
    const missing = await service.getConversation(bob, randomUUID()).catch((e: Error) => e.message);
    const hidden = await service.getConversation(bob, conversation.id).catch((e: Error) => e.message);
    expect(hidden).toBe(missing);
    expect((await service.listConversations(bob, {}, { limit: 10, offset: 0 })).items).toEqual([]);

    // Admins read any conversation and remove others.
    expect((await service.getConversation(admin, conversation.id)).unreadCount).toBeNull();
    await service.removeParticipant(admin, conversation.id, alice.userId);
    await expect(service.getConversation(alice, conversation.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses new messages in a closed conversation', async () => {
    const alice = await newUser(service);
    const admin = await newUser(service, 'admin');
    const conversation = await conversationOf(alice);
    await expect(service.adminSetConversationStatus(alice, conversation.id, 'closed')).rejects.toBeInstanceOf(ForbiddenError);
    expect((await service.adminSetConversationStatus(admin, conversation.id, 'closed')).status).toBe('closed');
    await expect(service.sendMessage(alice, conversation.id, { content: 'late' })).rejects.toBeInstanceOf(ConflictError);
    expect((await service.listMessages(alice, conversation.id, { limit: 10, offset: 0 })).items).toEqual([]);
  });

  it('enforces the send rate limit atomically under concurrency', async () => {
    const limited = new MessagingService(handle.db, { sendLimit: 20, sendWindowSeconds: 10 });
    const alice = await newUser(limited);
    const bob = await newUser(limited);
    const conversation = await limited.createConversation(alice, { type: 'general', participantIds: [bob.userId] });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => limited.sendMessage(alice, conversation.id, { content: `burst ${i}` })),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
    expect(refused).toHaveLength(30);
    for (const r of refused) {
      const reason = (r as PromiseRejectedResult).reason as RateLimitedError;
      expect(reason).toBeInstanceOf(RateLimitedError);
      expect(reason.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(reason.retryAfterSeconds).toBeLessThanOrEqual(10);
    }
    expect((await limited.listMessages(bob, conversation.id, { limit: 100, offset: 0 })).items).toHaveLength(20);
    // Another user is unaffected.
    expect((await limited.sendMessage(bob, conversation.id, { content: 'fine' })).created).toBe(true);
  });

  it('filters, pages and polls the inbox', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const a = await conversationOf(alice, bob);
    const b = await service.createConversation(alice, { type: 'support', participantIds: [] });
    const c = await conversationOf(alice, bob);
    await service.sendMessage(bob, a.id, { content: 'bump a' });

    const page1 = await service.listConversations(alice, {}, { limit: 2, offset: 0 });
    expect(page1.items.map((x) => x.id)).toEqual([a.id, c.id]);
    const page2 = await service.listConversations(alice, {}, { limit: 2, offset: 0, cursor: page1.nextCursor! });
    expect(page2.items.map((x) => x.id)).toEqual([b.id]);
    expect(page2.nextCursor).toBeNull();
    expect((await service.listConversations(alice, {}, { limit: 2, offset: 1 })).items.map((x) => x.id)).toEqual([c.id, b.id]);
    expect((await service.listConversations(alice, { type: 'support' }, { limit: 10, offset: 0 })).items.map((x) => x.id)).toEqual([b.id]);

    const since = page1.items[0]!.updatedAt;
    expect((await service.listConversations(alice, { updatedSince: since }, { limit: 10, offset: 0 })).items).toEqual([]);
    await new Promise((r) => setTimeout(r, 5));
    await service.sendMessage(bob, c.id, { content: 'bump c' });
    const polled = await service.listConversations(alice, { updatedSince: since }, { limit: 10, offset: 0 });
    expect(polled.items.map((x) => x.id)).toEqual([c.id]);
  });

  it('lets admins list and filter every conversation', async () => {
    const admin = await newUser(service, 'admin');
    const alice = await newUser(service);
    const general = await conversationOf(alice);
    const support = await service.createConversation(alice, { type: 'support', participantIds: [] });
    await service.adminSetConversationStatus(admin, support.id, 'closed');
    await expect(service.adminListConversations(alice, {}, { limit: 10, offset: 0 })).rejects.toBeInstanceOf(ForbiddenError);

    const { result: mine, roundTrips } = await counted(() =>
      service.adminListConversations(admin, { participantId: alice.userId }, { limit: 10, offset: 0 }),
    );
    expect(roundTrips).toBe(1);
    expect(mine.items.map((x) => x.id)).toEqual([support.id, general.id]);
    const active = await service.adminListConversations(admin, { participantId: alice.userId, status: 'active' }, { limit: 10, offset: 0 });
    expect(active.items.map((x) => x.id)).toEqual([general.id]);
    const paged = await service.adminListConversations(admin, { participantId: alice.userId }, { limit: 1, offset: 0 });
    const next = await service.adminListConversations(admin, { participantId: alice.userId }, { limit: 1, offset: 0, cursor: paged.nextCursor! });
    expect(next.items.map((x) => x.id)).toEqual([general.id]);
  });

  it('links order conversations to orders and deletes them with the order', async () => {
    const owner = await newUser(service);
    const provider = await newUser(service, 'service_provider');
    const stranger = await newUser(service);
    const orderId = randomUUID();
    await sql`INSERT INTO orders (id, owner_id, service_provider_id, title) VALUES (cast(${orderId} as uuid), cast(${owner.userId} as uuid), cast(${provider.userId} as uuid), 'Fix sink')`.execute(handle.db);

    await expect(service.createConversation(stranger, { type: 'order', orderId, participantIds: [] })).rejects.toBeInstanceOf(NotFoundError);
    await expect(service.createConversation(owner, { type: 'order', participantIds: [] })).rejects.toBeInstanceOf(InvalidInputError);
    const conversation = await service.createConversation(owner, { type: 'order', orderId, subject: 'Fix sink', participantIds: [] });
    expect(conversation.orderId).toBe(orderId);
    expect(conversation.participants.map((p) => [p.userId, p.role]).sort()).toEqual(
      [
        [owner.userId, 'user'],
        [provider.userId, 'service_provider'],
      ].sort(),
    );
    const again = await service.createConversation(provider, { type: 'order', orderId, participantIds: [] }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect((again as ConflictError).details).toEqual({ conversationId: conversation.id });
    const filtered = await service.listConversations(provider, { orderId }, { limit: 10, offset: 0 });
    expect(filtered.items.map((x) => x.id)).toEqual([conversation.id]);

    await service.sendMessage(owner, conversation.id, { content: 'when do you come?' });
    await sql`DELETE FROM orders WHERE id = cast(${orderId} as uuid)`.execute(handle.db);
    await expect(service.getConversation(owner, conversation.id)).rejects.toBeInstanceOf(NotFoundError);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM messages WHERE conversation_id = cast(${conversation.id} as uuid)`.execute(handle.db);
    expect(rows[0]!.n).toBe(0);
  });
});
