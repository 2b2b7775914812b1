import { randomUUID } from 'node:crypto';
import type { ParticipantRole } from '../../lib/db/schema';
import type { MessagingService } from '../../lib/messaging/messaging-service';
import type { Caller } from '../../lib/messaging/types';

/** A fresh user recorded in the database; every test makes its own, so tests never share state. */
export async function newUser(service: MessagingService, role: ParticipantRole = 'user'): Promise<Caller> {
  const caller: Caller = { userId: randomUUID(), role, isAdmin: role === 'admin' };
  await service.recordUser(caller.userId, role);
  return caller;
}

/** A general conversation created by the first caller with the others. */
export async function conversationOf(service: MessagingService, ...callers: Caller[]) {
  const [creator, ...others] = callers;
  return service.createConversation(creator!, {
    type: 'general',
    subject: 'Hello',
    participantIds: others.map((c) => c.userId),
  });
}
