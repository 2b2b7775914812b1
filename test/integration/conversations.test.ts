import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnknownUsersError,
} from '../../lib/messaging/errors';
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

describe(`conversations on ${backend}`, () => {
  it('creates a conversation with the creator and the named participants, in one statement', async () => {
    const alice = await newUser(service);
    const agent = await newUser(service, 'agent');
    const { result: conversation, roundTrips } = await counted(handle, () =>
      service.createConversation(alice, {
        type: 'support',
        subject: '  Refund  ',
        participantIds: [agent.userId, agent.userId],
      }),
    );
    expect(roundTrips).toBe(1);
    expect(conversation).toMatchObject({
      type: 'support',
      subject: 'Refund',
      status: 'active',
      orderId: null,
      unreadCount: 0,
      lastMessage: null,
    });
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

  it('filters, pages and polls the inbox', async () => {
    const alice = await newUser(service);
    const bob = await newUser(service);
    const a = await conversationOf(service, alice, bob);
    const b = await service.createConversation(alice, { type: 'support', participantIds: [] });
    const c = await conversationOf(service, alice, bob);
    await service.sendMessage(bob, a.id, { content: 'bump a' });

    const page1 = await service.listConversations(alice, {}, { limit: 2, offset: 0 });
    expect(page1.items.map((x) => x.id)).toEqual([a.id, c.id]);
    const page2 = await service.listConversations(alice, {}, { limit: 2, offset: 0, cursor: page1.nextCursor! });
    expect(page2.items.map((x) => x.id)).toEqual([b.id]);
    expect(page2.nextCursor).toBeNull();
    expect((await service.listConversations(alice, {}, { limit: 2, offset: 1 })).items.map((x) => x.id)).toEqual([
      c.id,
      b.id,
    ]);
    expect(
      (await service.listConversations(alice, { type: 'support' }, { limit: 10, offset: 0 })).items.map((x) => x.id),
    ).toEqual([b.id]);

    const since = page1.items[0]!.updatedAt;
    expect((await service.listConversations(alice, { updatedSince: since }, { limit: 10, offset: 0 })).items).toEqual(
      [],
    );
    await new Promise((r) => setTimeout(r, 5));
    await service.sendMessage(bob, c.id, { content: 'bump c' });
    const polled = await service.listConversations(alice, { updatedSince: since }, { limit: 10, offset: 0 });
    expect(polled.items.map((x) => x.id)).toEqual([c.id]);
  });

  it('lets admins list and filter every conversation', async () => {
    const admin = await newUser(service, 'admin');
    const alice = await newUser(service);
    const general = await conversationOf(service, alice);
    const support = await service.createConversation(alice, { type: 'support', participantIds: [] });
    await service.adminSetConversationStatus(admin, support.id, 'closed');
    await expect(service.adminListConversations(alice, {}, { limit: 10, offset: 0 })).rejects.toBeInstanceOf(
      ForbiddenError,
    );

    const { result: mine, roundTrips } = await counted(handle, () =>
      service.adminListConversations(admin, { participantId: alice.userId }, { limit: 10, offset: 0 }),
    );
    expect(roundTrips).toBe(1);
    expect(mine.items.map((x) => x.id)).toEqual([support.id, general.id]);
    const active = await service.adminListConversations(
      admin,
      { participantId: alice.userId, status: 'active' },
      { limit: 10, offset: 0 },
    );
    expect(active.items.map((x) => x.id)).toEqual([general.id]);
    const paged = await service.adminListConversations(admin, { participantId: alice.userId }, { limit: 1, offset: 0 });
    const next = await service.adminListConversations(
      admin,
      { participantId: alice.userId },
      { limit: 1, offset: 0, cursor: paged.nextCursor! },
    );
    expect(next.items.map((x) => x.id)).toEqual([general.id]);
  });

  it('links order conversations to orders and deletes them with the order', async () => {
    const owner = await newUser(service);
    const provider = await newUser(service, 'service_provider');
    const stranger = await newUser(service);
    const orderId = randomUUID();
    await sql`INSERT INTO orders (id, owner_id, service_provider_id, title) VALUES (cast(${orderId} as uuid), cast(${owner.userId} as uuid), cast(${provider.userId} as uuid), 'Fix sink')`.execute(
      handle.db,
    );

    await expect(
      service.createConversation(stranger, { type: 'order', orderId, participantIds: [] }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(service.createConversation(owner, { type: 'order', participantIds: [] })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    const conversation = await service.createConversation(owner, {
      type: 'order',
      orderId,
      subject: 'Fix sink',
      participantIds: [],
    });
    expect(conversation.orderId).toBe(orderId);
    expect(conversation.participants.map((p) => [p.userId, p.role]).sort()).toEqual(
      [
        [owner.userId, 'user'],
        [provider.userId, 'service_provider'],
      ].sort(),
    );
    const again = await service
      .createConversation(provider, { type: 'order', orderId, participantIds: [] })
      .catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect((again as ConflictError).details).toEqual({ conversationId: conversation.id });
    const filtered = await service.listConversations(provider, { orderId }, { limit: 10, offset: 0 });
    expect(filtered.items.map((x) => x.id)).toEqual([conversation.id]);

    await service.sendMessage(owner, conversation.id, { content: 'when do you come?' });
    await sql`DELETE FROM orders WHERE id = cast(${orderId} as uuid)`.execute(handle.db);
    await expect(service.getConversation(owner, conversation.id)).rejects.toBeInstanceOf(NotFoundError);
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM messages WHERE conversation_id = cast(${conversation.id} as uuid)`.execute(
      handle.db,
    );
    expect(rows[0]!.n).toBe(0);
  });
});
