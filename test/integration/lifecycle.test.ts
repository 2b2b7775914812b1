import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../../lib/messaging/errors';
import { MAX_REACTIONS_PER_USER } from '../../lib/messaging/limits';
import { OrderProjection } from '../../lib/messaging/order-projection';
import { messageJson } from '../../lib/messaging/sql';
import type { Message } from '../../lib/messaging/types';
import { domainUnderTest } from '../support/domain';
import { conversationOf, newUser } from '../support/fixtures';
import { counted, expectUnreadCountsExact, invariantViolations } from '../support/invariants';
import { backend } from '../support/test-database';

const domain = domainUnderTest();

/** Every message change costs one statement. */
async function once<T>(operation: () => Promise<T>): Promise<T> {
  const { result, roundTrips } = await counted(domain.handle, operation);
  expect(roundTrips).toBe(1);
  return result;
}

async function violations(...conversationIds: string[]) {
  return invariantViolations(domain.handle.db, { conversationIds, senderIds: [] }, { maxParticipants: 50 });
}

describe(`the message lifecycle on ${backend}`, () => {
  it('edits your own message, keeps the earlier text for admins, and refuses everyone else', async () => {
    const [alice, bob, outsider, admin] = [
      await newUser(domain.service),
      await newUser(domain.service),
      await newUser(domain.service),
      await newUser(domain.service, 'admin'),
    ];
    const conversation = await conversationOf(domain.service, alice, bob);
    const { message } = await domain.service.sendMessage(alice, conversation.id, { content: 'helo' });
    const edited = await once(() => domain.service.editMessage(alice, message.id, { content: '  hello  ' }));
    expect(edited).toMatchObject({ id: message.id, content: 'hello', editedAt: expect.any(String), deletedAt: null });
    expect(edited.revision).toBeGreaterThan(message.revision);
    await domain.service.editMessage(alice, message.id, { content: 'hello, Bob' });
    // Editing to the same text changes nothing.
    const same = await domain.service.editMessage(alice, message.id, { content: 'hello, Bob' });
    const versions = await once(() => domain.service.adminListMessageVersions(admin, message.id));
    expect(versions.map((v) => v.content)).toEqual(['helo', 'hello']);
    expect(versions[0]!.writtenAt).toBe(message.createdAt);
    expect(versions[1]!.writtenAt).toBe(edited.editedAt);
    expect(same.revision).toBe((await domain.service.getConversation(alice, conversation.id)).revision);

    await expect(domain.service.editMessage(bob, message.id, { content: 'mine now' })).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    await expect(domain.service.editMessage(outsider, message.id, { content: 'x' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(domain.service.editMessage(admin, message.id, { content: 'x' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(domain.service.editMessage(alice, randomUUID(), { content: 'x' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(domain.service.editMessage(alice, message.id, { content: '   ' })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(domain.service.adminListMessageVersions(alice, message.id)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(domain.service.adminListMessageVersions(admin, randomUUID())).rejects.toBeInstanceOf(NotFoundError);

    await domain.service.adminSetConversationStatus(admin, conversation.id, 'closed');
    await expect(domain.service.editMessage(alice, message.id, { content: 'late' })).rejects.toMatchObject({
      code: 'conversation_closed',
    });
    await domain.service.adminSetConversationStatus(admin, conversation.id, 'active');
    await domain.service.deleteMessage(alice, message.id);
    await expect(domain.service.editMessage(alice, message.id, { content: 'back' })).rejects.toMatchObject({
      code: 'message_not_editable',
    });
    expect(await violations(conversation.id)).toEqual([]);
  });

  it('refuses to edit system messages', async () => {
    const owner = await newUser(domain.service);
    const orders = new OrderProjection(domain.handle.db);
    const orderId = randomUUID();
    const { conversationId } = await orders.orderCreated({ orderId, userId: owner.userId, title: 'Sofa' });
    await orders.statusChanged({ orderId, status: 'paid', version: 1 }, new Date().toISOString());
    const page = await domain.service.listMessages(owner, conversationId!, { limit: 10, offset: 0 });
    const system = page.items.find((m) => m.kind === 'system')!;
    await expect(domain.service.editMessage(owner, system.id, { content: 'x' })).rejects.toMatchObject({
      code: 'message_not_editable',
    });
    await expect(domain.service.deleteMessage(owner, system.id)).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('deletes as a tombstone, lowers the unread counts of those who had not read it, and twice is fine', async () => {
    const [alice, bob, carol, admin] = [
      await newUser(domain.service),
      await newUser(domain.service),
      await newUser(domain.service),
      await newUser(domain.service, 'admin'),
    ];
    const conversation = await conversationOf(domain.service, alice, bob, carol);
    const first = (await domain.service.sendMessage(alice, conversation.id, { content: 'one' })).message;
    const second = (await domain.service.sendMessage(alice, conversation.id, { content: 'two' })).message;
    await domain.service.addReaction(bob, second.id, '👍');
    await domain.service.markMessageRead(bob, first.id); // bob has read one of two; carol none
    expect((await domain.service.getConversation(bob, conversation.id)).unreadCount).toBe(1);
    expect((await domain.service.getConversation(carol, conversation.id)).unreadCount).toBe(2);

    const tombstone = await once(() => domain.service.deleteMessage(alice, second.id));
    expect(tombstone).toMatchObject({ id: second.id, content: null, deletedAt: expect.any(String), reactions: [] });
    expect((await domain.service.getConversation(bob, conversation.id)).unreadCount).toBe(0);
    expect((await domain.service.getConversation(carol, conversation.id)).unreadCount).toBe(1);
    expect(await domain.service.getUnreadTotal(carol)).toEqual({ unreadCount: 1, conversationCount: 1 });
    expect(await domain.service.deleteMessage(alice, second.id)).toEqual(tombstone);
    // The inbox preview never shows deleted content.
    const inbox = await domain.service.listConversations(carol, {}, { limit: 10, offset: 0 });
    expect(inbox.items[0]!.lastMessage).toMatchObject({ id: second.id, content: null });
    // Its content is gone for users, kept for moderation.
    expect((await domain.service.adminListMessageVersions(admin, second.id)).map((v) => v.content)).toEqual(['two']);
    // A participant who joins now never counts it.
    const dave = await newUser(domain.service);
    await domain.service.addParticipant(alice, conversation.id, dave.userId);
    expect((await domain.service.getConversation(dave, conversation.id)).unreadCount).toBe(1);

    await expect(domain.service.deleteMessage(bob, first.id)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(domain.service.deleteMessage(await newUser(domain.service), first.id)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    // An admin moderates anywhere, participant or not.
    expect(await domain.service.deleteMessage(admin, first.id)).toMatchObject({ content: null });
    await expect(domain.service.addReaction(bob, first.id, '👍')).rejects.toMatchObject({ code: 'message_deleted' });
    await expectUnreadCountsExact(domain.handle.db, conversation.id);
    expect(await violations(conversation.id)).toEqual([]);
  });

  it('counts reactions per emoji in order of first use, says which are mine, and caps them', async () => {
    const [alice, bob, outsider] = [
      await newUser(domain.service),
      await newUser(domain.service),
      await newUser(domain.service),
    ];
    const conversation = await conversationOf(domain.service, alice, bob);
    const { message } = await domain.service.sendMessage(alice, conversation.id, { content: 'react to me' });
    await once(() => domain.service.addReaction(bob, message.id, '👍🏽'));
    await domain.service.addReaction(alice, message.id, '👩‍👩‍👧');
    await domain.service.addReaction(alice, message.id, '👍🏽');
    const again = await once(() => domain.service.addReaction(alice, message.id, '👍🏽')); // idempotent
    expect(again.reactions).toEqual([
      { emoji: '👍🏽', count: 2, me: true },
      { emoji: '👩‍👩‍👧', count: 1, me: true },
    ]);
    const asBob = await domain.service.listMessages(bob, conversation.id, { limit: 10, offset: 0 });
    expect(asBob.items[0]!.reactions).toEqual([
      { emoji: '👍🏽', count: 2, me: true },
      { emoji: '👩‍👩‍👧', count: 1, me: false },
    ]);
    const removed = await once(() => domain.service.removeReaction(bob, message.id, '👍🏽'));
    expect(removed.reactions).toEqual([
      { emoji: '👍🏽', count: 1, me: false },
      { emoji: '👩‍👩‍👧', count: 1, me: false },
    ]);
    expect((await domain.service.removeReaction(bob, message.id, '🎉')).reactions).toHaveLength(2);

    const emoji = [
      '😀',
      '😁',
      '😂',
      '🤣',
      '😃',
      '😄',
      '😅',
      '😆',
      '😉',
      '😊',
      '😋',
      '😎',
      '😍',
      '😘',
      '🥰',
      '😗',
      '😙',
      '🥲',
      '😚',
      '🙂',
      '🤗',
    ];
    for (const e of emoji.slice(0, MAX_REACTIONS_PER_USER)) await domain.service.addReaction(bob, message.id, e);
    await expect(domain.service.addReaction(bob, message.id, emoji[MAX_REACTIONS_PER_USER]!)).rejects.toMatchObject({
      code: 'too_many_reactions',
    });
    // Others are not capped by bob's reactions.
    await domain.service.addReaction(alice, message.id, emoji[MAX_REACTIONS_PER_USER]!);

    for (const bad of ['a', '👍👍', '', '❤', 'x'.repeat(40)]) {
      await expect(domain.service.addReaction(bob, message.id, bad)).rejects.toBeInstanceOf(InvalidInputError);
    }
    await expect(domain.service.addReaction(outsider, message.id, '👍')).rejects.toBeInstanceOf(NotFoundError);
    const admin = await newUser(domain.service, 'admin');
    await domain.service.adminSetConversationStatus(admin, conversation.id, 'closed');
    await expect(domain.service.addReaction(alice, message.id, '🎉')).rejects.toBeInstanceOf(ConflictError);
    expect(await violations(conversation.id)).toEqual([]);
  });

  it('replies to a message of the same conversation only, and shows no preview once it is deleted', async () => {
    const [alice, bob] = [await newUser(domain.service), await newUser(domain.service)];
    const conversation = await conversationOf(domain.service, alice, bob);
    const elsewhere = await conversationOf(domain.service, alice, bob);
    const original = (await domain.service.sendMessage(alice, conversation.id, { content: 'Shall we meet at 5?' }))
      .message;
    const foreign = (await domain.service.sendMessage(alice, elsewhere.id, { content: 'other' })).message;
    const reply = await once(() =>
      domain.service.sendMessage(bob, conversation.id, { content: 'Yes', replyToId: original.id }),
    );
    expect(reply.message.replyTo).toEqual({ id: original.id, senderId: alice.userId, preview: 'Shall we meet at 5?' });
    for (const replyToId of [foreign.id, randomUUID()]) {
      await expect(
        domain.service.sendMessage(bob, conversation.id, { content: 'No', replyToId }),
      ).rejects.toBeInstanceOf(InvalidInputError);
    }
    const before = await domain.service.listMessages(bob, conversation.id, { limit: 50, offset: 0 });
    expect(before.items).toHaveLength(2); // nothing stored for the refused replies
    await domain.service.deleteMessage(alice, original.id);
    const after = await domain.service.listMessages(bob, conversation.id, { limit: 50, offset: 0 });
    expect(after.items[1]!.replyTo).toEqual({ id: original.id, senderId: alice.userId, preview: null });
  });

  it('marks unread from a message on, with the count recounted exactly', async () => {
    const [alice, bob] = [await newUser(domain.service), await newUser(domain.service)];
    const conversation = await conversationOf(domain.service, alice, bob);
    const sent: Message[] = [];
    for (const content of ['a', 'b', 'c', 'd']) {
      sent.push(
        (await domain.service.sendMessage(content === 'c' ? bob : alice, conversation.id, { content })).message,
      );
    }
    await domain.service.deleteMessage(alice, sent[3]!.id);
    await domain.service.markConversationRead(bob, conversation.id);
    const mark = await once(() => domain.service.markMessageUnread(bob, sent[1]!.id));
    // b (alice's) counts, c is bob's own, d is deleted.
    expect(mark).toEqual({ conversationId: conversation.id, lastReadAt: sent[0]!.createdAt, unreadCount: 1 });
    expect((await domain.service.getConversation(bob, conversation.id)).unreadCount).toBe(1);
    const fromStart = await domain.service.markMessageUnread(bob, sent[0]!.id);
    expect(fromStart).toEqual({ conversationId: conversation.id, lastReadAt: null, unreadCount: 2 });
    await expectUnreadCountsExact(domain.handle.db, conversation.id);
    await expect(domain.service.markMessageUnread(await newUser(domain.service), sent[0]!.id)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('lets a client that was away see every change since a revision, in the order they happened', async () => {
    const [alice, bob] = [await newUser(domain.service), await newUser(domain.service)];
    const conversation = await conversationOf(domain.service, alice, bob);
    const sent: Message[] = [];
    for (const content of ['1', '2', '3', '4', '5']) {
      sent.push((await domain.service.sendMessage(alice, conversation.id, { content })).message);
    }
    const held = (await domain.service.getConversation(bob, conversation.id)).revision;
    const since = new Date().toISOString();
    await domain.service.editMessage(alice, sent[0]!.id, { content: 'one' });
    await domain.service.addReaction(bob, sent[2]!.id, '👍');
    await domain.service.deleteMessage(alice, sent[1]!.id);
    await domain.service.addReaction(bob, sent[0]!.id, '🎉');
    const seen: string[] = [];
    const revisions: number[] = [];
    let cursor: number | undefined = held;
    while (cursor !== undefined) {
      const page = await once(() =>
        domain.service.listMessages(bob, conversation.id, { limit: 2, offset: 0, changedAfter: cursor }),
      );
      seen.push(...page.items.map((m) => m.id));
      revisions.push(...page.items.map((m) => m.revision));
      cursor = page.nextCursor === null ? undefined : Number(page.nextCursor);
    }
    // The edited-then-reacted message once, at its last change; in the order of the changes.
    expect(seen).toEqual([sent[2]!.id, sent[1]!.id, sent[0]!.id]);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(revisions[0]).toBeGreaterThan(held);
    // The inbox's updatedSince sees edits and deletes.
    const inbox = await domain.service.listConversations(bob, { updatedSince: since }, { limit: 10, offset: 0 });
    expect(inbox.items.map((c) => c.id)).toContain(conversation.id);
    await expect(
      domain.service.listMessages(bob, conversation.id, { limit: 2, offset: 0, changedAfter: 0, after: sent[0]!.id }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('keeps counts exact and revisions distinct under concurrent sends, edits, deletes, reactions and marks', async () => {
    const people = await Promise.all(Array.from({ length: 4 }, () => newUser(domain.service)));
    const admin = await newUser(domain.service, 'admin');
    const conversation = await conversationOf(domain.service, ...people);
    const seeded: Message[] = [];
    for (let i = 0; i < 8; i++) {
      seeded.push((await domain.service.sendMessage(people[i % 4]!, conversation.id, { content: `m${i}` })).message);
    }
    const settle = (p: Promise<unknown>) => p.catch((e: unknown) => (e instanceof Error ? e.name : e));
    await Promise.all(
      Array.from({ length: 80 }, (_, i) => {
        const who = people[i % 4]!;
        const target = seeded[(i * 7) % seeded.length]!;
        switch (i % 8) {
          case 0:
            return settle(domain.service.sendMessage(who, conversation.id, { content: `c${i}` }));
          case 1:
            return settle(domain.service.deleteMessage(admin, target.id));
          case 2:
            return settle(
              domain.service.editMessage(people[seeded.indexOf(target) % 4]!, target.id, { content: `e${i}` }),
            );
          case 3:
            return settle(domain.service.addReaction(who, target.id, ['👍', '🎉', '😀'][i % 3]!));
          case 4:
            return settle(domain.service.removeReaction(who, target.id, '👍'));
          case 5:
            return settle(domain.service.markMessageRead(who, target.id));
          case 6:
            return settle(domain.service.markMessageUnread(who, target.id));
          default:
            return settle(domain.service.markConversationRead(who, conversation.id));
        }
      }),
    );
    expect(await violations(conversation.id)).toEqual([]);
    await expectUnreadCountsExact(domain.handle.db, conversation.id);
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM messages
       WHERE conversation_id = cast(${conversation.id} as uuid) AND deleted_at IS NOT NULL AND reactions IS NOT NULL`.execute(
      domain.handle.db,
    );
    expect(rows[0]!.n).toBe(0);
  });
});

describe(`the message JSON, on ${backend}`, () => {
  it('is the same from the SQL function the PL/pgSQL functions use and from the inline builder', async () => {
    const [alice, bob] = [await newUser(domain.service), await newUser(domain.service)];
    const conversation = await conversationOf(domain.service, alice, bob);
    const first = (await domain.service.sendMessage(alice, conversation.id, { content: 'first' })).message;
    const reply = (await domain.service.sendMessage(bob, conversation.id, { content: 'second', replyToId: first.id }))
      .message;
    await domain.service.addReaction(bob, first.id, '👍');
    await domain.service.editMessage(bob, reply.id, { content: 'second, edited' });
    const gone = (await domain.service.sendMessage(alice, conversation.id, { content: 'third' })).message;
    await domain.service.deleteMessage(alice, gone.id);
    const { rows } = await sql<{ fn: unknown; inline: unknown }>`
      SELECT message_json(m) AS fn, ${messageJson('m')} AS inline
        FROM messages m WHERE m.conversation_id = cast(${conversation.id} as uuid) ORDER BY m.seq`.execute(
      domain.handle.db,
    );
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.inline).toEqual(row.fn);
  });
});
