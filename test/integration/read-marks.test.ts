import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import { MessagingService } from '../../lib/messaging/messaging-service';
import type { Caller } from '../../lib/messaging/types';
import { conversationOf, newUser } from '../support/fixtures';
import { expectUnreadCountsExact } from '../support/invariants';
import { backend, openTestDatabase } from '../support/test-database';

let handle: DatabaseHandle;
let service: MessagingService;

beforeAll(async () => {
  handle = await openTestDatabase();
  service = new MessagingService(handle.db, { sendLimit: 1000, sendWindowSeconds: 10 });
});
afterAll(async () => handle?.close());

describe(`read-marks on ${backend}`, () => {
  it('keeps the newer read mark under 100 concurrent pairs of older and newer mark-reads', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const conversation = await conversationOf(service, alice, bob);
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
    await expectUnreadCountsExact(handle.db, conversation.id);
  });

  it('keeps unread counts exact while people send, join, leave and read at the same time', async () => {
    const people = await Promise.all(Array.from({ length: 6 }, () => newUser(service)));
    const [a, b, c, d, e, f] = people as [Caller, Caller, Caller, Caller, Caller, Caller];
    const conversation = await conversationOf(service, a, b, c);
    const first = await service.sendMessage(a, conversation.id, { content: 'start' });
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) =>
        service.sendMessage([a, b, c][i % 3]!, conversation.id, { content: `m${i}` }),
      ),
      service.addParticipant(a, conversation.id, d.userId),
      service.addParticipant(b, conversation.id, e.userId),
      service
        .addParticipant(c, conversation.id, f.userId)
        .then(() => service.removeParticipant(f, conversation.id, f.userId)),
      ...Array.from({ length: 10 }, () => service.markMessageRead(b, first.message.id)),
      ...Array.from({ length: 5 }, () => service.markConversationRead(c, conversation.id)),
    ]);
    await expectUnreadCountsExact(handle.db, conversation.id);
    const joined = await service.getConversation(d, conversation.id);
    expect(joined.unreadCount).toBe(31); // a joiner starts with every earlier message unread
    expect((await service.getUnreadTotal(e)).unreadCount).toBe(31);
  });
});
