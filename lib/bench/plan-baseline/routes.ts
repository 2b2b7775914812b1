import * as z from 'zod/mini';
import type { RouteDefinition } from '../../http/routes';
import { content, conversationPath } from '../../http/schemas';

/**
 * The plan's endpoints that the benchmark compares with ours (/work/shared/seed-plan.md, "API
 * Endpoints"), on the same paths, as route definitions the local gateway serves in place of the
 * service's (lib/local/local-server.ts, option `http`). The path and body checks are the service's
 * own schemas, so both sides validate alike and the comparison measures what each does with the
 * database. Bodies are the plan's rows as its tables hold them (snake_case, as `SELECT *` gives).
 */

/** Plan endpoint 3's `?limit=50&offset=0`, and the same paging for the conversation list. */
const paging = (defaultLimit: number, maxLimit: number) =>
  z.strictObject({
    limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(maxLimit)), defaultLimit),
    offset: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 0),
  });

const timestamp = z.nullable(z.date());

/** A row of the plan's `messages` table. Dates leave as ISO strings (JSON.stringify). */
export const planMessage = z.object({
  id: z.string(),
  conversation_id: z.string(),
  sender_id: z.string(),
  content: z.string(),
  read_at: timestamp,
  created_at: timestamp,
  updated_at: timestamp,
});

/** A row of the plan's `conversations` table with its last message and the caller's unread count. */
export const planInboxEntry = z.object({
  id: z.string(),
  order_id: z.nullable(z.string()),
  type: z.string(),
  subject: z.nullable(z.string()),
  status: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
  last_message: z.nullable(z.string()),
  last_message_at: timestamp,
  unread_count: z.number(),
});

const route = <const R extends RouteDefinition>(r: R) => r;
const common = { access: 'user', rateLimit: 'default', bindings: ['database'] } as const;

export const planRoutes = {
  listConversations: route({
    ...common,
    id: 'plan-list-conversations',
    method: 'GET',
    path: '/v1/messages/conversations',
    tag: 'Conversations',
    summary: "Plan endpoint 1: the user's conversations with last message preview and unread count",
    query: paging(20, 50),
    responses: { 200: { description: 'Conversations', schema: z.object({ conversations: z.array(planInboxEntry) }) } },
    errors: [],
  }),
  unreadTotal: route({
    ...common,
    id: 'plan-get-unread-total',
    method: 'GET',
    path: '/v1/messages/unread',
    tag: 'Messages',
    summary: 'Plan, "Show unread indicator": unread messages and conversations with unread',
    responses: {
      200: { description: 'Totals', schema: z.object({ unreadCount: z.number(), conversationCount: z.number() }) },
    },
    errors: [],
  }),
  listMessages: route({
    ...common,
    id: 'plan-list-messages',
    method: 'GET',
    path: '/v1/messages/conversations/{id}/messages',
    tag: 'Messages',
    summary: 'Plan endpoint 3: messages oldest first, limit and offset',
    params: conversationPath,
    query: paging(50, 100),
    responses: { 200: { description: 'Messages', schema: z.object({ messages: z.array(planMessage) }) } },
    errors: [],
  }),
  sendMessage: route({
    ...common,
    id: 'plan-send-message',
    method: 'POST',
    path: '/v1/messages/conversations/{id}/messages',
    tag: 'Messages',
    summary: 'Plan endpoint 5: send a message',
    params: conversationPath,
    body: z.strictObject({ content }),
    responses: { 201: { description: 'The message', schema: planMessage } },
    errors: [404, 413, 415],
  }),
  markConversationRead: route({
    ...common,
    id: 'plan-mark-conversation-read',
    method: 'PATCH',
    path: '/v1/messages/conversations/{id}/read',
    tag: 'Conversations',
    summary: 'Plan endpoint 7: mark all messages in the conversation read',
    params: conversationPath,
    responses: {
      200: { description: 'Success message', schema: z.object({ message: z.string(), lastReadAt: timestamp }) },
    },
    errors: [404],
  }),
} as const;

export const planRouteList: readonly RouteDefinition[] = Object.values(planRoutes);
