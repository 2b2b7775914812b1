import * as z from 'zod/mini';
import { conversationStatuses, conversationTypes, messageKinds, participantRoles } from '../db/schema';
import { described as meta } from '../http/zod-common';

/**
 * The events this service publishes (source EVENT_SOURCE, default `messaging-service`): their
 * `detail` contracts, one JSON Schema each (lib/events/schemas/, `npm run openapi`), and the
 * README's table. The triggers of migration 0008 write them to the outbox in the statement of
 * their change; a test checks every trigger's detail against these schemas. Delivery is at least
 * once: consumers de-duplicate by `detail.eventId` (EventBridge's envelope id differs per attempt).
 */
const timestamp = z.iso.datetime({ offset: true });
const uuid = z.guid();

const common = {
  eventId: meta(uuid, { description: 'The event’s own id: the same on every delivery of it; de-duplicate by it.' }),
  occurredAt: meta(timestamp, { description: 'When the statement that made the change started.' }),
  conversationId: uuid,
};

const event = <T extends z.ZodMiniType>(schema: T, id: string, description: string): T =>
  meta(schema, { id, description });

export const messageSentDetail = event(
  z.object({
    ...common,
    messageId: uuid,
    seq: z.number().check(z.int(), z.minimum(1)),
    senderId: z.nullable(uuid),
    kind: z.enum(messageKinds),
    content: z.string(),
    replyToId: z.nullable(uuid),
    attachments: z.array(
      z.object({
        id: uuid,
        filename: z.string(),
        contentType: z.string(),
        size: z.number().check(z.int(), z.minimum(0)),
      }),
    ),
    createdAt: timestamp,
  }),
  'MessageSent',
  'A message was stored (system messages of order status changes included).',
);

export const conversationCreatedDetail = event(
  z.object({
    ...common,
    type: z.enum(conversationTypes),
    subject: z.nullable(z.string()),
    orderId: z.nullable(uuid),
    createdBy: z.nullable(uuid),
    createdAt: timestamp,
  }),
  'ConversationCreated',
  'A conversation was created (by a user, or by an order’s OrderCreated); its first participants follow as ParticipantAdded.',
);

export const participantAddedDetail = event(
  z.object({ ...common, userId: uuid, role: z.enum(participantRoles), joinedAt: timestamp }),
  'ParticipantAdded',
  'Someone joined a conversation (its creation included).',
);

export const participantRemovedDetail = event(
  z.object({ ...common, userId: uuid, role: z.enum(participantRoles) }),
  'ParticipantRemoved',
  'Someone left or was removed (not sent when the whole conversation is deleted with its order).',
);

export const conversationStatusChangedDetail = event(
  z.object({
    ...common,
    status: z.enum(conversationStatuses),
    previousStatus: z.enum(conversationStatuses),
    changedAt: timestamp,
  }),
  'ConversationStatusChanged',
  'A conversation was closed or reopened (by an admin, or by its order’s status).',
);

export const messageReadDetail = event(
  z.object({
    ...common,
    userId: uuid,
    lastReadSeq: z.number().check(z.int(), z.minimum(1)),
    lastReadAt: z.nullable(timestamp),
    lastReadMessageId: z.nullable(uuid),
  }),
  'MessageRead',
  'A participant’s read mark moved forward (marking unread moves it back and is not sent).',
);

export const domainEvents = {
  MessageSent: messageSentDetail,
  ConversationCreated: conversationCreatedDetail,
  ParticipantAdded: participantAddedDetail,
  ParticipantRemoved: participantRemovedDetail,
  ConversationStatusChanged: conversationStatusChangedDetail,
  MessageRead: messageReadDetail,
} as const;

export type DomainEventType = keyof typeof domainEvents;

/** One JSON Schema per published event detail, generated from the zod schemas above: what a consumer receives. */
export function domainEventJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(domainEvents).map(([detailType, schema]) => [
      detailType,
      z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }),
    ]),
  );
}
