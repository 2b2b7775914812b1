import { CompiledQuery, type Kysely } from 'kysely';
import type * as z from 'zod/mini';
import { httpHandler } from '../../../functions/commons/http-handler';
import type { HttpHandler } from '../../local/local-server';
import { NotFoundError } from '../../messaging/errors';
import type { planInboxEntry, planMessage } from './routes';
import { planRoutes } from './routes';
import { planStatements as sql } from './statements';

/**
 * The plan's handlers, as a competent developer writes them with this project's stack: the
 * service's own middy stack (functions/commons/http-handler.ts: identity, body limit, JSON
 * parsing, zod validation through @middy/validator, error mapping, and the caller recorded in
 * `users` on first sight, whose id and role the plan's table has too), and the plan's statements
 * sent through the service's database layer (lib/db/create-database.ts), so that the choice of
 * node-postgres, PGlite or the Data API and the statement counter apply to them as to ours. The
 * runtime's database is the plan's here (./stack.ts installs it), but its Kysely type describes
 * the service's tables: the plan's statements go as compiled queries.
 */

// biome-ignore lint/suspicious/noExplicitAny: the plan's tables are not the service's Database type
type AnyDb = Kysely<any>;

async function rows<R>(db: AnyDb, statement: string, parameters: unknown[]): Promise<R[]> {
  return (await db.executeQuery(CompiledQuery.raw(statement, parameters) as CompiledQuery<R>)).rows;
}

type Message = z.output<typeof planMessage>;
type InboxRow = Omit<z.output<typeof planInboxEntry>, 'unread_count'> & { unread_count: string };

export const listConversations = httpHandler(planRoutes.listConversations)(async ({ caller, query }, runtime) => {
  const found = await rows<InboxRow>(runtime.database.db, sql.inbox, [caller.userId, query.limit, query.offset]);
  // count(*) is int8, which the drivers return as a string.
  return { status: 200, body: { conversations: found.map((c) => ({ ...c, unread_count: Number(c.unread_count) })) } };
});

export const getUnreadTotal = httpHandler(planRoutes.unreadTotal)(async ({ caller }, runtime) => {
  const [total] = await rows<{ unread: string; conversations: string }>(runtime.database.db, sql.unreadTotal, [
    caller.userId,
  ]);
  return {
    status: 200,
    body: { unreadCount: Number(total?.unread ?? 0), conversationCount: Number(total?.conversations ?? 0) },
  };
});

export const listMessages = httpHandler(planRoutes.listMessages)(async ({ caller, params, query }, runtime) => {
  const messages = await rows<Message>(runtime.database.db, sql.page, [
    params.id,
    caller.userId,
    query.limit,
    query.offset,
  ]);
  return { status: 200, body: { messages } };
});

export const sendMessage = httpHandler(planRoutes.sendMessage)(async ({ caller, params, body }, runtime) => {
  const message = await runtime.database.db.transaction().execute(async (trx) => {
    const ids = [params.id, caller.userId];
    if (!(await rows(trx, sql.send.isParticipant, ids)).length) throw new NotFoundError('conversation');
    const [created] = await rows<Message>(trx, sql.send.insert, [...ids, body.content]);
    await rows(trx, sql.send.touchConversation, [params.id]);
    await rows(trx, sql.send.touchReadMark, ids);
    return created!;
  });
  return { status: 201, body: message };
});

export const markConversationRead = httpHandler(planRoutes.markConversationRead)(
  async ({ caller, params }, runtime) => {
    const [readMark, readMessages] = sql.markConversationRead;
    const lastReadAt = await runtime.database.db.transaction().execute(async (trx) => {
      const ids = [params.id, caller.userId];
      const [mark] = await rows<{ last_read_at: Date }>(trx, readMark, ids);
      if (!mark) throw new NotFoundError('conversation');
      await rows(trx, readMessages, ids);
      return mark.last_read_at;
    });
    return { status: 200, body: { message: 'Conversation marked as read', lastReadAt } };
  },
);

/** Each route's handler, by route id, for the gateway's loader. */
export const planHandlers: Readonly<Record<string, HttpHandler>> = {
  [planRoutes.listConversations.id]: listConversations,
  [planRoutes.unreadTotal.id]: getUnreadTotal,
  [planRoutes.listMessages.id]: listMessages,
  [planRoutes.sendMessage.id]: sendMessage,
  [planRoutes.markConversationRead.id]: markConversationRead,
};
