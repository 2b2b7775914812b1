import { describe, expect, it } from 'vitest';
import type { Caller } from '../../lib/messaging/types';
import { domainUnderTest } from '../support/domain';
import { conversationOf, newUser } from '../support/fixtures';
import { expectUnreadCountsExact } from '../support/invariants';
import { backend } from '../support/test-database';

const domain = domainUnderTest();

describe(`read-marks on ${backend}`, () => {
  it('keeps the newer read mark under 100 concurrent pairs of older and newer mark-reads', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const conversation = await conversationOf(domain.service, alice, bob);
    const older = await domain.service.sendMessage(alice, conversation.id, { content: 'older' });
    const newer = await domain.service.sendMessage(alice, conversation.id, { content: 'newer' });
    const after = await domain.service.sendMessage(alice, conversation.id, { content: 'unread still' });
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        i % 2
          ? domain.service.markMessageRead(bob, older.message.id)
          : domain.service.markMessageRead(bob, newer.message.id),
      ),
    );
    // Exactly one unread remains: the message after `newer`.
    expect((await domain.service.getConversation(bob, conversation.id)).unreadCount).toBe(1);
    await domain.service.markMessageRead(bob, older.message.id);
    expect((await domain.service.getConversation(bob, conversation.id)).unreadCount).toBe(1);
    const page = await domain.service.listMessages(bob, conversation.id, { limit: 10, offset: 0 });
    expect(page.items.map((m) => m.readAt !== null)).toEqual([true, true, false]);
    expect(page.items[2]!.id).toBe(after.message.id);
    await expectUnreadCountsExact(domain.handle.db, conversation.id);
  });

  it('keeps unread counts exact while people send, join, leave and read at the same time', async () => {
    const people = await Promise.all(Array.from({ length: 6 }, () => newUser(domain.service)));
    const [a, b, c, d, e, f] = people as [Caller, Caller, Caller, Caller, Caller, Caller];
    const conversation = await conversationOf(domain.service, a, b, c);
    const first = await domain.service.sendMessage(a, conversation.id, { content: 'start' });
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) =>
        domain.service.sendMessage([a, b, c][i % 3]!, conversation.id, { content: `m${i}` }),
      ),
      domain.service.addParticipant(a, conversation.id, d.userId),
      domain.service.addParticipant(b, conversation.id, e.userId),
      domain.service
        .addParticipant(c, conversation.id, f.userId)
        .then(() => domain.service.removeParticipant(f, conversation.id, f.userId)),
      ...Array.from({ length: 10 }, () => domain.service.markMessageRead(b, first.message.id)),
      ...Array.from({ length: 5 }, () => domain.service.markConversationRead(c, conversation.id)),
    ]);
    await expectUnreadCountsExact(domain.handle.db, conversation.id);
    const joined = await domain.service.getConversation(d, conversation.id);
    expect(joined.unreadCount).toBe(31); // a joiner starts with every earlier message unread
    expect((await domain.service.getUnreadTotal(e)).unreadCount).toBe(31);
  });
});
