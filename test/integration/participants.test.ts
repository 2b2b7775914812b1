import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import { ForbiddenError, NotFoundError, UnknownUsersError } from '../../lib/messaging/errors';
import { MessagingService } from '../../lib/messaging/messaging-service';
import { conversationOf, newUser } from '../support/fixtures';
import { counted } from '../support/invariants';
import { backend, openTestDatabase } from '../support/test-database';

let handle: DatabaseHandle;
let service: MessagingService;

beforeAll(async () => {
  handle = await openTestDatabase();
  service = new MessagingService(handle.db, { sendLimit: 1000, sendWindowSeconds: 10 });
});
afterAll(async () => handle?.close());

describe(`participants on ${backend}`, () => {
  it('gives one row and no error for 20 concurrent adds of the same participant', async () => {
    const alice = await newUser(service);
    const carol = await newUser(service, 'service_provider');
    const conversation = await conversationOf(service, alice);
    const { roundTrips } = await counted(handle, () => service.addParticipant(alice, conversation.id, carol.userId));
    expect(roundTrips).toBe(1);
    await service.removeParticipant(alice.isAdmin ? alice : carol, conversation.id, carol.userId);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => service.addParticipant(alice, conversation.id, carol.userId)),
    );
    expect(results.filter((r) => r.added)).toHaveLength(1);
    const detail = await service.getConversation(alice, conversation.id);
    expect(detail.participants.filter((p) => p.userId === carol.userId)).toEqual([
      expect.objectContaining({ role: 'service_provider' }),
    ]);
    await expect(service.addParticipant(alice, conversation.id, randomUUID())).rejects.toBeInstanceOf(
      UnknownUsersError,
    );
  });

  it('refuses a removed participant everything, with the same error as for a missing conversation', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const admin = await newUser(service, 'admin');
    const conversation = await conversationOf(service, alice, bob);
    const message = await service.sendMessage(alice, conversation.id, { content: 'before' });

    await expect(service.removeParticipant(alice, conversation.id, bob.userId)).rejects.toBeInstanceOf(ForbiddenError);
    const { roundTrips } = await counted(handle, () => service.removeParticipant(bob, conversation.id, bob.userId));
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
});
