import { z } from 'zod';
import { conversationStatuses, conversationTypes, messageKinds, participantRoles } from '../db/schema';
import { contentProblem, contentProblemMessages, MAX_CONTENT_CODE_POINTS } from '../messaging/content';
import { MAX_PARTICIPANTS } from '../messaging/messaging-service';

/**
 * The API's shapes, in one place: the Lambdas validate with them, TypeScript types come from
 * them, and the OpenAPI document is generated from them.
 */

const id = (what: string) => z.guid({ message: `${what} must be a UUID` });
const timestamp = z.iso.datetime({ offset: true });

// ---- path parameters --------------------------------------------------------------------------

export const conversationPath = z.strictObject({ id: id('conversation id') });
export const messagePath = z.strictObject({ id: id('message id') });
export const participantPath = z.strictObject({ id: id('conversation id'), userId: id('user id') });

// ---- query strings ----------------------------------------------------------------------------

const limit = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback).meta({ description: `Page size, 1 to ${max}.` });
const offset = z.coerce.number().int().min(0).max(100_000).default(0).meta({ description: 'Items to skip.' });

const conversationFilters = {
  type: z.enum(conversationTypes).optional(),
  status: z.enum(conversationStatuses).optional(),
  orderId: id('orderId').optional(),
  updatedSince: timestamp
    .optional()
    .meta({ description: 'Only conversations with activity after this instant (ISO 8601): cheap polling.' }),
  limit: limit(50, 20),
  offset,
  cursor: z.string().max(200).optional().meta({ description: 'nextCursor from the previous page.' }),
};

export const listConversationsQuery = z.strictObject(conversationFilters);
export const adminListConversationsQuery = z.strictObject({
  ...conversationFilters,
  participantId: id('participantId').optional(),
});

export const listMessagesQuery = z.strictObject({
  limit: limit(100, 50),
  offset,
  before: id('before').optional().meta({ description: 'A message id: return the messages just older than it.' }),
  after: id('after').optional().meta({ description: 'A message id: return the messages just newer than it (polling).' }),
});

// ---- bodies -----------------------------------------------------------------------------------

export const content = z
  .string()
  .superRefine((value, ctx) => {
    const problem = contentProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: contentProblemMessages[problem], params: { problem } });
  })
  .meta({
    maxLength: MAX_CONTENT_CODE_POINTS,
    description: `Plain text, trimmed; 1 to ${MAX_CONTENT_CODE_POINTS} Unicode code points, no NUL, well-formed Unicode. Stored and returned exactly as sent (never HTML-escaped): render it as text.`,
  });

export const clientMessageId = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,100}$/, { message: 'clientMessageId is 1 to 100 of A-Z a-z 0-9 . _ : -' })
  .meta({ description: 'Chosen by the client; a retry with the same id returns the message already stored (200).' });

export const createConversationBody = z.strictObject({
  type: z.enum(conversationTypes),
  subject: z.string().max(255).nullish(),
  orderId: id('orderId').nullish(),
  participantIds: z.array(id('participant id')).max(MAX_PARTICIPANTS - 1).default([]),
});

export const sendMessageBody = z.strictObject({
  content,
  clientMessageId: clientMessageId.nullish(),
});

export const addParticipantBody = z.strictObject({ userId: id('userId') });

export const setConversationStatusBody = z.strictObject({ status: z.enum(conversationStatuses) });

// ---- responses --------------------------------------------------------------------------------

export const messageSchema = z
  .object({
    id: z.guid(),
    conversationId: z.guid(),
    senderId: z.guid().nullable(),
    kind: z.enum(messageKinds),
    content: z.string(),
    clientMessageId: z.string().nullable(),
    readAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Message' });

export const participantSchema = z
  .object({
    userId: z.guid(),
    role: z.enum(participantRoles),
    joinedAt: timestamp,
    lastReadAt: timestamp.nullable(),
  })
  .meta({ id: 'Participant' });

export const conversationSchema = z
  .object({
    id: z.guid(),
    type: z.enum(conversationTypes),
    subject: z.string().nullable(),
    orderId: z.guid().nullable(),
    status: z.enum(conversationStatuses),
    createdAt: timestamp,
    updatedAt: timestamp,
    participants: z.array(participantSchema),
    lastMessage: messageSchema
      .nullable()
      .meta({ description: 'Preview of the newest message; content cut to 200 code points.' }),
    unreadCount: z.number().int().min(0).nullable().meta({ description: "The caller's unread messages; null for an admin who is not a participant." }),
  })
  .meta({ id: 'Conversation' });

const pageOf = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id: name });

export const conversationPage = pageOf(conversationSchema, 'ConversationPage');
export const messagePage = pageOf(messageSchema, 'MessagePage');

export const readMarkSchema = z
  .object({ conversationId: z.guid(), lastReadAt: timestamp.nullable(), unreadCount: z.literal(0) })
  .meta({ id: 'ReadMark' });

export const unreadTotalSchema = z
  .object({ unreadCount: z.number().int().min(0), conversationCount: z.number().int().min(0) })
  .meta({ id: 'UnreadTotal' });

export const errorSchema = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .meta({ id: 'Error' });

/** API Gateway's own answer when the JWT authorizer refuses a token. */
export const gatewayErrorSchema = z.object({ message: z.string() }).meta({ id: 'GatewayError' });
