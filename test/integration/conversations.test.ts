import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnknownUsersError,
} from '../../lib/messaging/errors';
import { domainUnderTest } from '../support/domain';
import { conversationOf, newUser } from '../support/fixtures';
import { counted } from '../support/invariants';
import { backend } from '../support/test-database';

const domain = domainUnderTest();

describe(`conversations on ${backend}`, () => {
  it('creates a conversation with the creator and the named participants, in one statement', async () => {
    const alice = await newUser(domain.service);
    const agent = await newUser(domain.service, 'agent');
    const { result: conversation, roundTrips } = await counted(domain.handle, () =>
      domain.service.createConversation(alice, {
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
    const alice = await newUser(domain.service);
    const ghosts = [randomUUID(), randomUUID()].sort();
    const before = await domain.service.listConversations(alice, {}, { limit: 50, offset: 0 });
    const error = await domain.service
      .createConversation(alice, { type: 'general', participantIds: ghosts })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownUsersError);
    expect((error as UnknownUsersError).userIds).toEqual(ghosts);
    const after = await domain.service.listConversations(alice, {}, { limit: 50, offset: 0 });
    expect(after.items).toHaveLength(before.items.length);
  });

  it('filters, pages and polls the inbox', async () => {
    const alice = await newUser(domain.service);
    const bob = await newUser(domain.service);
    const a = await conversationOf(domain.service, alice, bob);
    const b = await domain.service.createConversation(alice, { type: 'support', participantIds: [] });
    const c = await conversationOf(domain.service, alice, bob);
    await domain.service.sendMessage(bob, a.id, { content: 'bump a' });

    const page1 = await domain.service.listConversations(alice, {}, { limit: 2, offset: 0 });
    expect(page1.items.map((x) => x.id)).toEqual([a.id, c.id]);
    const page2 = await domain.service.listConversations(alice, {}, { limit: 2, offset: 0, cursor: page1.nextCursor! });
    expect(page2.items.map((x) => x.id)).toEqual([b.id]);
    expect(page2.nextCursor).toBeNull();
    expect((await domain.service.listConversations(alice, {}, { limit: 2, offset: 1 })).items.map((x) => x.id)).toEqual(
      [c.id, b.id],
    );
    expect(
      (await domain.service.listConversations(alice, { type: 'support' }, { limit: 10, offset: 0 })).items.map(
        (x) => x.id,
      ),
    ).toEqual([b.id]);

    const since = page1.items[0]!.updatedAt;
    expect(
      (await domain.service.listConversations(alice, { updatedSince: since }, { limit: 10, offset: 0 })).items,
    ).toEqual([]);
    await new Promise((r) => setTimeout(r, 5));
    await domain.service.sendMessage(bob, c.id, { content: 'bump c' });
    const polled = await domain.service.listConversations(alice, { updatedSince: since }, { limit: 10, offset: 0 });
    expect(polled.items.map((x) => x.id)).toEqual([c.id]);
  });

  it('lets admins list and filter every conversation', async () => {
    const admin = await newUser(domain.service, 'admin');
    const alice = await newUser(domain.service);
    const general = await conversationOf(domain.service, alice);
    const support = await domain.service.createConversation(alice, { type: 'support', participantIds: [] });
    await domain.service.adminSetConversationStatus(admin, support.id, 'closed');
    await expect(domain.service.adminListConversations(alice, {}, { limit: 10, offset: 0 })).rejects.toBeInstanceOf(
      ForbiddenError,
    );

    const { result: mine, roundTrips } = await counted(domain.handle, () =>
      domain.service.adminListConversations(admin, { participantId: alice.userId }, { limit: 10, offset: 0 }),
    );
    expect(roundTrips).toBe(1);
    expect(mine.items.map((x) => x.id)).toEqual([support.id, general.id]);
    const active = await domain.service.adminListConversations(
      admin,
      { participantId: alice.userId, status: 'active' },
      { limit: 10, offset: 0 },
    );
    expect(active.items.map((x) => x.id)).toEqual([general.id]);
    const paged = await domain.service.adminListConversations(
      admin,
      { participantId: alice.userId },
      { limit: 1, offset: 0 },
    );
    const next = await domain.service.adminListConversations(
      admin,
      { participantId: alice.userId },
      { limit: 1, offset: 0, cursor: paged.nextCursor! },
    );
    expect(next.items.map((x) => x.id)).toEqual([general.id]);
  });

  it('links order conversations to orders and deletes them with the order', async () => {
    const owner = await newUser(domain.service);
    const provider = await newUser(domain.service, 'service_provider');
    const stranger = await newUser(domain.service);
    const orderId = randomUUID();
    await sql`INSERT INTO orders (id, owner_id, service_provider_id, title) VALUES (cast(${orderId} as uuid), cast(${owner.userId} as uuid), cast(${provider.userId} as uuid), 'Fix sink')`.execute(
      domain.handle.db,
    );

    await expect(
      domain.service.createConversation(stranger, { type: 'order', orderId, participantIds: [] }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      domain.service.createConversation(owner, { type: 'order', participantIds: [] }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    const conversation = await domain.service.createConversation(owner, {
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
    const again = await domain.service
      .createConversation(provider, { type: 'order', orderId, participantIds: [] })
      .catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect((again as ConflictError).details).toEqual({ conversationId: conversation.id });
    const filtered = await domain.service.listConversations(provider, { orderId }, { limit: 10, offset: 0 });
    expect(filtered.items.map((x) => x.id)).toEqual([conversation.id]);

    await domain.service.sendMessage(owner, conversation.id, { content: 'when do you come?' });
    await sql`DELETE FROM orders WHERE id = cast(${orderId} as uuid)`.execute(domain.handle.db);
    await expect(domain.service.getConversation(owner, conversation.id)).rejects.toBeInstanceOf(NotFoundError);
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM messages WHERE conversation_id = cast(${conversation.id} as uuid)`.execute(
      domain.handle.db,
    );
    expect(rows[0]!.n).toBe(0);
  });
});
