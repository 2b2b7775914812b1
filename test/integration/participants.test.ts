import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ForbiddenError, NotFoundError, UnknownUsersError } from '../../lib/messaging/errors';
import { domainUnderTest } from '../support/domain';
import { conversationOf, newUser } from '../support/fixtures';
import { counted } from '../support/invariants';
import { backend } from '../support/test-database';

const domain = domainUnderTest();

describe(`participants on ${backend}`, () => {
  it('gives one row and no error for 20 concurrent adds of the same participant', async () => {
    const alice = await newUser(domain.service);
    const carol = await newUser(domain.service, 'service_provider');
    const conversation = await conversationOf(domain.service, alice);
    const { roundTrips } = await counted(domain.handle, () =>
      domain.service.addParticipant(alice, conversation.id, carol.userId),
    );
    expect(roundTrips).toBe(1);
    await domain.service.removeParticipant(alice.isAdmin ? alice : carol, conversation.id, carol.userId);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => domain.service.addParticipant(alice, conversation.id, carol.userId)),
    );
    expect(results.filter((r) => r.added)).toHaveLength(1);
    const detail = await domain.service.getConversation(alice, conversation.id);
    expect(detail.participants.filter((p) => p.userId === carol.userId)).toEqual([
      expect.objectContaining({ role: 'service_provider' }),
    ]);
    await expect(domain.service.addParticipant(alice, conversation.id, randomUUID())).rejects.toBeInstanceOf(
      UnknownUsersError,
    );
  });

  it('refuses a removed participant everything, with the same error as for a missing conversation', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const admin = await newUser(domain.service, 'admin');
    const conversation = await conversationOf(domain.service, alice, bob);
    const message = await domain.service.sendMessage(alice, conversation.id, { content: 'before' });

    await expect(domain.service.removeParticipant(alice, conversation.id, bob.userId)).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    const { roundTrips } = await counted(domain.handle, () =>
      domain.service.removeParticipant(bob, conversation.id, bob.userId),
    );
    expect(roundTrips).toBe(1);

    const attempts: Array<() => Promise<unknown>> = [
      () => domain.service.getConversation(bob, conversation.id),
      () => domain.service.listMessages(bob, conversation.id, { limit: 10, offset: 0 }),
      () => domain.service.sendMessage(bob, conversation.id, { content: 'after' }),
      () => domain.service.markMessageRead(bob, message.message.id),
      () => domain.service.markConversationRead(bob, conversation.id),
      () => domain.service.addParticipant(bob, conversation.id, bob.userId),
    ];
    for (const attempt of attempts) await expect(attempt()).rejects.toBeInstanceOf(NotFoundError);
    const missing = await domain.service.getConversation(bob, randomUUID()).catch((e: Error) => e.message);
    const hidden = await domain.service.getConversation(bob, conversation.id).catch((e: Error) => e.message);
    expect(hidden).toBe(missing);
    expect((await domain.service.listConversations(bob, {}, { limit: 10, offset: 0 })).items).toEqual([]);

    // Admins read any conversation and remove others.
    expect((await domain.service.getConversation(admin, conversation.id)).unreadCount).toBeNull();
    await domain.service.removeParticipant(admin, conversation.id, alice.userId);
    await expect(domain.service.getConversation(alice, conversation.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});
