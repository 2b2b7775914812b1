import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MAX_CONTENT_CODE_POINTS } from '../../lib/messaging/content';
import { ConflictError, ForbiddenError, InvalidInputError, RateLimitedError } from '../../lib/messaging/errors';
import { MESSAGE_PAGE_BYTE_BUDGET } from '../../lib/messaging/limits';
import { MessagingService } from '../../lib/messaging/messaging-service';
import { OrderProjection } from '../../lib/messaging/order-projection';
import type { Message } from '../../lib/messaging/types';
import { domainUnderTest } from '../support/domain';
import { conversationOf, newUser } from '../support/fixtures';
import { counted, expectUnreadCountsExact } from '../support/invariants';
import { backend } from '../support/test-database';

const domain = domainUnderTest();

describe(`messages on ${backend}`, () => {
  it('sends, lists with last message and unread count, and marks read, each in one statement', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice, bob);

    const { result: sent, roundTrips: sendTrips } = await counted(domain.handle, () =>
      domain.service.sendMessage(alice, conversation.id, { content: '  <script>alert(1)</script> hi  ' }),
    );
    expect(sendTrips).toBe(1);
    expect(sent.created).toBe(true);
    expect(sent.message).toMatchObject({
      senderId: alice.userId,
      kind: 'user',
      content: '<script>alert(1)</script> hi',
      readAt: null,
    });

    const { result: bobInbox, roundTrips: listTrips } = await counted(domain.handle, () =>
      domain.service.listConversations(bob, {}, { limit: 20, offset: 0 }),
    );
    expect(listTrips).toBe(1);
    expect(bobInbox.items[0]).toMatchObject({ id: conversation.id, unreadCount: 1 });
    expect(bobInbox.items[0]!.lastMessage?.content).toBe('<script>alert(1)</script> hi');
    const aliceInbox = await domain.service.listConversations(alice, {}, { limit: 20, offset: 0 });
    expect(aliceInbox.items[0]).toMatchObject({ id: conversation.id, unreadCount: 0 });

    const { result: total, roundTrips: totalTrips } = await counted(domain.handle, () =>
      domain.service.getUnreadTotal(bob),
    );
    expect(totalTrips).toBe(1);
    expect(total).toEqual({ unreadCount: 1, conversationCount: 1 });

    const { result: read, roundTrips: readTrips } = await counted(domain.handle, () =>
      domain.service.markMessageRead(bob, sent.message.id),
    );
    expect(readTrips).toBe(1);
    expect(read.readAt).not.toBeNull();
    expect(await domain.service.getUnreadTotal(bob)).toEqual({ unreadCount: 0, conversationCount: 0 });

    // The sender reading their own message does not stamp read_at.
    const own = await domain.service.sendMessage(alice, conversation.id, { content: 'second' });
    expect((await domain.service.markMessageRead(alice, own.message.id)).readAt).toBeNull();

    const { result: detail, roundTrips: getTrips } = await counted(domain.handle, () =>
      domain.service.getConversation(bob, conversation.id),
    );
    expect(getTrips).toBe(1);
    expect(detail.unreadCount).toBe(1);
    expect(detail.participants.find((p) => p.userId === bob.userId)?.lastReadAt).not.toBeNull();

    const { result: mark, roundTrips: markAllTrips } = await counted(domain.handle, () =>
      domain.service.markConversationRead(bob, conversation.id),
    );
    expect(markAllTrips).toBe(1);
    expect(mark.unreadCount).toBe(0);
    expect((await domain.service.getConversation(bob, conversation.id)).unreadCount).toBe(0);
  });

  it('pages messages by offset and by before/after cursors, oldest first', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice, bob);
    const sent: Message[] = [];
    for (let i = 0; i < 7; i++)
      sent.push((await domain.service.sendMessage(alice, conversation.id, { content: `m${i}` })).message);
    const ids = sent.map((m) => m.id);

    const { result: latest, roundTrips } = await counted(domain.handle, () =>
      domain.service.listMessages(bob, conversation.id, { limit: 3, offset: 0 }),
    );
    expect(roundTrips).toBe(1);
    expect(latest.items.map((m) => m.id)).toEqual(ids.slice(4));
    expect(latest.nextCursor).toBe(ids[4]);

    const older = await domain.service.listMessages(bob, conversation.id, {
      limit: 3,
      offset: 0,
      before: latest.nextCursor!,
    });
    expect(older.items.map((m) => m.id)).toEqual(ids.slice(1, 4));
    const oldest = await domain.service.listMessages(bob, conversation.id, {
      limit: 3,
      offset: 0,
      before: older.nextCursor!,
    });
    expect(oldest.items.map((m) => m.id)).toEqual(ids.slice(0, 1));
    expect(oldest.nextCursor).toBeNull();

    const offsetPage = await domain.service.listMessages(bob, conversation.id, { limit: 2, offset: 2 });
    expect(offsetPage.items.map((m) => m.id)).toEqual(ids.slice(3, 5));

    const newer = await domain.service.listMessages(bob, conversation.id, { limit: 4, offset: 0, after: ids[1]! });
    expect(newer.items.map((m) => m.id)).toEqual(ids.slice(2, 6));
    expect(newer.nextCursor).toBe(ids[5]);
    const rest = await domain.service.listMessages(bob, conversation.id, {
      limit: 4,
      offset: 0,
      after: newer.nextCursor!,
    });
    expect(rest.items.map((m) => m.id)).toEqual(ids.slice(6));
    expect(rest.nextCursor).toBeNull();
    const nothingNew = await domain.service.listMessages(bob, conversation.id, { limit: 4, offset: 0, after: ids[6]! });
    expect(nothingNew.items).toEqual([]);

    // A cursor from another conversation is refused, not silently ignored.
    const other = await conversationOf(domain.service, alice, bob);
    const foreign = await domain.service.sendMessage(alice, other.id, { content: 'elsewhere' });
    await expect(
      domain.service.listMessages(bob, conversation.id, { limit: 3, offset: 0, before: foreign.message.id }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('stops a page of very large messages before the Data API 1 MiB response cap, and continues by cursor', async () => {
    const alice = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice);
    const huge = '😀'.repeat(10_000); // 40,000 bytes of UTF-8 each
    await Promise.all(
      Array.from({ length: 30 }, () => domain.service.sendMessage(alice, conversation.id, { content: huge })),
    );
    const first = await domain.service.listMessages(alice, conversation.id, { limit: 100, offset: 0 });
    expect(first.items.length).toBe(Math.floor(MESSAGE_PAGE_BYTE_BUDGET / (40_000 + 2)));
    expect(first.items.every((m) => m.content === huge)).toBe(true);
    expect(first.nextCursor).toBe(first.items[0]!.id);
    let seen = first.items.length;
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await domain.service.listMessages(alice, conversation.id, { limit: 100, offset: 0, before: cursor });
      seen += page.items.length;
      cursor = page.nextCursor;
    }
    expect(seen).toBe(30);
  });

  it('gives a full page of long messages whose size only the exact measure clears', async () => {
    // 60 messages of 1,500 bytes: the cheap bound (6 bytes for each byte stored) passes the budget,
    // their exact JSON size (90 KB for a page of 60) does not; the page must still be whole.
    const alice = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice);
    const long = (i: number) => `${String(i).padStart(2, '0')} ${'x'.repeat(1_497)}`;
    for (let i = 0; i < 60; i++) await domain.service.sendMessage(alice, conversation.id, { content: long(i) });
    const newest = await domain.service.listMessages(alice, conversation.id, { limit: 50, offset: 0 });
    expect(newest.items.map((m) => m.content)).toEqual(Array.from({ length: 50 }, (_, i) => long(i + 10)));
    expect(newest.nextCursor).toBe(newest.items[0]!.id);
    const older = await domain.service.listMessages(alice, conversation.id, {
      limit: 50,
      offset: 0,
      before: newest.nextCursor!,
    });
    expect(older.items.map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, i) => long(i)));
    expect(older.nextCursor).toBeNull();
    const after = await domain.service.listMessages(alice, conversation.id, {
      limit: 50,
      offset: 0,
      after: older.items[0]!.id,
    });
    expect(after.items.map((m) => m.content)).toEqual(Array.from({ length: 50 }, (_, i) => long(i + 1)));
    expect(after.nextCursor).toBe(after.items[49]!.id);
    const changed = await domain.service.listMessages(alice, conversation.id, {
      limit: 50,
      offset: 0,
      changedAfter: 0,
    });
    expect(changed.items.map((m) => m.content)).toEqual(Array.from({ length: 50 }, (_, i) => long(i)));
    expect(changed.nextCursor).toBe(String(changed.items[49]!.revision));
  });

  it('keeps each conversation’s largest message bound through sends and edits, and pages short messages after a long one', async () => {
    const alice = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice);
    const kept = async () =>
      Number(
        (
          await sql<{ bound: string }>`SELECT largest_message_bound AS bound FROM conversations
                                        WHERE id = cast(${conversation.id} as uuid)`.execute(domain.handle.db)
        ).rows[0]!.bound,
      );
    // A message's bound: 6 bytes for each byte of content, and its two quotes.
    const first = await domain.service.sendMessage(alice, conversation.id, { content: 'a' });
    expect(await kept()).toBe(8);
    await domain.service.editMessage(alice, first.message.id, { content: 'é'.repeat(1_000) });
    expect(await kept()).toBe(6 * 2_000 + 2);
    // The longest message there may be: a page cannot clear the budget by the conversation's bound.
    await domain.service.sendMessage(alice, conversation.id, { content: 'y'.repeat(MAX_CONTENT_CODE_POINTS) });
    expect(await kept()).toBe(6 * MAX_CONTENT_CODE_POINTS + 2);
    // An edit to shorter content leaves the bound: it covers every message the conversation has had.
    await domain.service.editMessage(alice, first.message.id, { content: 'b' });
    expect(await kept()).toBe(6 * MAX_CONTENT_CODE_POINTS + 2);
    const short = (i: number) => `short ${i}`;
    for (let i = 0; i < 60; i++) await domain.service.sendMessage(alice, conversation.id, { content: short(i) });
    const newest = await domain.service.listMessages(alice, conversation.id, { limit: 50, offset: 0 });
    expect(newest.items.map((m) => m.content)).toEqual(Array.from({ length: 50 }, (_, i) => short(i + 10)));
    const older = await domain.service.listMessages(alice, conversation.id, {
      limit: 50,
      offset: 0,
      before: newest.nextCursor!,
    });
    expect(older.items.map((m) => m.content)).toEqual([
      'b',
      'y'.repeat(MAX_CONTENT_CODE_POINTS),
      ...Array.from({ length: 10 }, (_, i) => short(i)),
    ]);
    expect(older.nextCursor).toBeNull();
  });

  it('keeps the bound of system messages, and leaves a bound that is not known unknown', async () => {
    const owner = await newUser(domain.service);
    const orders = new OrderProjection(domain.handle.db);
    const orderId = randomUUID();
    const { conversationId } = await orders.orderCreated({ orderId, userId: owner.userId, title: 'Sofa' });
    const boundOf = async (id: string) =>
      (
        await sql<{ bound: string | null }>`SELECT largest_message_bound AS bound FROM conversations
                                             WHERE id = cast(${id} as uuid)`.execute(domain.handle.db)
      ).rows[0]!.bound;
    // A new conversation knows its bound: none yet.
    expect(await boundOf(conversationId!)).toBe('0');
    const status = 'a status the order service named at length';
    await orders.statusChanged({ orderId, status, version: 1 }, new Date().toISOString());
    const { rows } = await sql<{ bound: string }>`
      SELECT max(6 * octet_length(content) + 2) AS bound FROM messages
       WHERE conversation_id = cast(${conversationId} as uuid)`.execute(domain.handle.db);
    expect(Number(await boundOf(conversationId!))).toBe(Number(rows[0]!.bound));
    expect(Number(rows[0]!.bound)).toBeGreaterThan(6 * status.length);

    // A conversation from before migration 0010: its pages measure their rows, and sends keep it unknown.
    const alice = await newUser(domain.service);
    const older = await conversationOf(domain.service, alice);
    await sql`UPDATE conversations SET largest_message_bound = NULL WHERE id = cast(${older.id} as uuid)`.execute(
      domain.handle.db,
    );
    for (let i = 0; i < 3; i++) await domain.service.sendMessage(alice, older.id, { content: `before ${i}` });
    expect(await boundOf(older.id)).toBeNull();
    const page = await domain.service.listMessages(alice, older.id, { limit: 2, offset: 0 });
    expect(page.items.map((m) => m.content)).toEqual(['before 1', 'before 2']);
  });

  it('gives messages and their outbox events version-7 ids that start with the time they were made (migration 0011)', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice, bob);
    const orders = new OrderProjection(domain.handle.db);
    const orderId = randomUUID();
    const { conversationId: orderConversation } = await orders.orderCreated({
      orderId,
      userId: alice.userId,
      title: 'Lamp',
    });
    /** The id's first 48 bits, as RFC 9562 version 7 puts Unix milliseconds there. */
    const millisecondsOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    const versionOf = (id: string) => id[14];
    const variantOf = (id: string) => id[19];

    const started = Date.now();
    const sent: Message[] = [];
    for (let i = 0; i < 5; i++) {
      sent.push((await domain.service.sendMessage(alice, conversation.id, { content: `ordered ${i}` })).message);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await orders.statusChanged({ orderId, status: 'shipped', version: 1 }, new Date().toISOString());
    const system = (
      await sql<{ id: string }>`SELECT id FROM messages WHERE conversation_id = cast(${orderConversation} as uuid)
                                  AND kind = 'system'`.execute(domain.handle.db)
    ).rows;
    const finished = Date.now();
    const ids = [...sent.map((m) => m.id), ...system.map((m) => m.id)];
    expect(system.length).toBeGreaterThan(0);
    for (const id of ids) {
      expect(versionOf(id), id).toBe('7');
      expect(['8', '9', 'a', 'b'], id).toContain(variantOf(id));
      // The database's clock and this process's are the same machine's, to the millisecond.
      expect(millisecondsOf(id)).toBeGreaterThanOrEqual(started - 1000);
      expect(millisecondsOf(id)).toBeLessThanOrEqual(finished + 1000);
    }
    // Sent one after another, two or more milliseconds apart: the ids sort as the messages were sent.
    expect([...sent.map((m) => m.id)].sort()).toEqual(sent.map((m) => m.id));
    expect(new Set(ids).size).toBe(ids.length);

    const events = (
      await sql<{ id: string }>`SELECT id FROM outbox_events WHERE detail->>'messageId' IN (${sql.join(ids)})`.execute(
        domain.handle.db,
      )
    ).rows;
    expect(events).toHaveLength(ids.length);
    for (const { id } of events) expect(versionOf(id), id).toBe('7');
  });

  it('returns the stored message when a clientMessageId is retried, sequentially and concurrently', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice, bob);
    const first = await domain.service.sendMessage(alice, conversation.id, { content: 'once', clientMessageId: 'c-1' });
    const retry = await domain.service.sendMessage(alice, conversation.id, { content: 'once', clientMessageId: 'c-1' });
    expect(first.created).toBe(true);
    expect(retry).toEqual({ message: first.message, created: false });

    const racing = await Promise.all(
      Array.from({ length: 10 }, () =>
        domain.service.sendMessage(alice, conversation.id, { content: 'race', clientMessageId: 'c-2' }),
      ),
    );
    expect(new Set(racing.map((r) => r.message.id)).size).toBe(1);
    expect(racing.filter((r) => r.created)).toHaveLength(1);
    // Another sender may use the same client id.
    const bobs = await domain.service.sendMessage(bob, conversation.id, { content: 'mine', clientMessageId: 'c-1' });
    expect(bobs.created).toBe(true);

    const page = await domain.service.listMessages(bob, conversation.id, { limit: 100, offset: 0 });
    expect(page.items.map((m) => m.content)).toEqual(['once', 'race', 'mine']);
  });

  it('keeps a gap-free order for a poller during 50 concurrent sends, and exact unread counts', async () => {
    const senders = await Promise.all(Array.from({ length: 5 }, () => newUser(domain.service)));
    const reader = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, senders[0]!, ...senders.slice(1), reader);

    const polled: Message[] = [];
    let sending = true;
    const poller = (async () => {
      for (;;) {
        // Only an empty poll that began after every send returned proves there is nothing left.
        const startedAfterSends = !sending;
        const page = await domain.service.listMessages(reader, conversation.id, {
          limit: 100,
          offset: 0,
          ...(polled.length ? { after: polled[polled.length - 1]!.id } : {}),
        });
        polled.push(...page.items);
        if (startedAfterSends && page.items.length === 0) break;
      }
    })();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        domain.service.sendMessage(senders[i % 5]!, conversation.id, { content: `n${i}` }),
      ),
    );
    sending = false;
    await poller;

    const all = await domain.service.listMessages(reader, conversation.id, { limit: 100, offset: 0 });
    expect(all.items).toHaveLength(50);
    // The poller saw every message exactly once and in the final order: nothing committed behind its cursor.
    expect(polled.map((m) => m.id)).toEqual(all.items.map((m) => m.id));
    expect((await domain.service.getConversation(reader, conversation.id)).unreadCount).toBe(50);
    expect(await domain.service.getUnreadTotal(reader)).toEqual({ unreadCount: 50, conversationCount: 1 });
    // Each sender's own messages are never unread for them; others' are.
    const sender0 = await domain.service.getConversation(senders[0]!, conversation.id);
    expect(sender0.unreadCount).toBeLessThanOrEqual(40);
    await expectUnreadCountsExact(domain.handle.db, conversation.id);
  });

  it('refuses new messages in a closed conversation', async () => {
    const alice = await newUser(domain.service);
    const admin = await newUser(domain.service, 'admin');
    const conversation = await conversationOf(domain.service, alice);
    await expect(domain.service.adminSetConversationStatus(alice, conversation.id, 'closed')).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    expect((await domain.service.adminSetConversationStatus(admin, conversation.id, 'closed')).status).toBe('closed');
    await expect(domain.service.sendMessage(alice, conversation.id, { content: 'late' })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect((await domain.service.listMessages(alice, conversation.id, { limit: 10, offset: 0 })).items).toEqual([]);
  });

  it('enforces the send rate limit atomically under concurrency', async () => {
    const limited = new MessagingService(domain.handle.db, { sendLimit: 20, sendWindowSeconds: 10 });
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
});
