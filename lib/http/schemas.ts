import * as z from 'zod/mini';
import { conversationStatuses, conversationTypes, messageKinds, participantRoles } from '../db/schema';
import { contentProblem, contentProblemMessages, MAX_CONTENT_CODE_POINTS } from '../messaging/content';
import { isSingleEmoji } from '../messaging/emoji';
import { MAX_ATTACHMENTS_PER_MESSAGE, MAX_OFFSET, MAX_PARTICIPANTS } from '../messaging/limits';
import { apiErrorCodes } from './error-codes';
import { uuidOf as id, instant, described as meta, plainText } from './zod-common';

/**
 * The API's shapes, in one place: the Lambdas validate with them, TypeScript types come from
 * them, and the OpenAPI document is generated from them. Written with `zod/mini`, whose
 * functions tree-shake: the same schemas in classic zod add ~440 KB to every Lambda.
 */
const timestamp = z.iso.datetime({ offset: true });

// ---- path parameters --------------------------------------------------------------------------

export const conversationPath = z.strictObject({ id: id('conversation id') });
export const messagePath = z.strictObject({ id: id('message id') });
export const attachmentPath = z.strictObject({ id: id('attachment id') });
export const participantPath = z.strictObject({ id: id('conversation id'), userId: id('user id') });
export const reactionPath = z.strictObject({
  id: id('message id'),
  emoji: meta(z.string().check(z.refine(isSingleEmoji, { error: 'emoji must be exactly one emoji' })), {
    description:
      'One emoji, URL-encoded: a single grapheme cluster that is an RGI emoji (skin tones, flags and ZWJ sequences included).',
  }),
});

// ---- query strings ----------------------------------------------------------------------------

const limit = (max: number, fallback: number) =>
  meta(z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(max)), fallback), {
    description: `Page size, 1 to ${max}.`,
  });
const offset = meta(z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(MAX_OFFSET)), 0), {
  description: `Items to skip, at most ${String(MAX_OFFSET).replace(/\B(?=(\d{3})+$)/g, ',')}. The cost grows with it (rows are skipped one by one); nextCursor costs the same at any depth.`,
});

const conversationFilters = {
  type: z.optional(z.enum(conversationTypes)),
  status: z.optional(z.enum(conversationStatuses)),
  orderId: z.optional(id('orderId')),
  updatedSince: meta(z.optional(instant()), {
    description:
      'Only conversations with activity after this instant: cheap polling. ISO 8601 with Z or an offset (at most ±15:59), year 0001 to 9999.',
  }),
  limit: limit(50, 20),
  offset,
  cursor: meta(z.optional(z.string().check(z.maxLength(200))), { description: 'nextCursor from the previous page.' }),
};

export const listConversationsQuery = z.strictObject(conversationFilters);
export const adminListConversationsQuery = z.strictObject({
  ...conversationFilters,
  participantId: z.optional(id('participantId')),
});

export const listMessagesQuery = z.strictObject({
  limit: limit(100, 50),
  offset,
  before: meta(z.optional(id('before')), { description: 'A message id: return the messages just older than it.' }),
  after: meta(z.optional(id('after')), {
    description: 'A message id: return the messages just newer than it (polling).',
  }),
  changedAfter: meta(z.optional(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER))), {
    description:
      "A conversation revision (a message's or the conversation's `revision`): the messages sent, edited, deleted or reacted to since, in the order they changed; nextCursor is the revision to ask after next.",
  }),
});

// ---- bodies -----------------------------------------------------------------------------------

export const content = meta(
  z.string().check(
    z.superRefine((value, ctx) => {
      const problem = contentProblem(value);
      if (problem)
        ctx.addIssue({ code: 'custom', message: contentProblemMessages[problem], input: value, params: { problem } });
    }),
  ),
  {
    maxLength: MAX_CONTENT_CODE_POINTS,
    description: `Plain text, trimmed; 1 to ${MAX_CONTENT_CODE_POINTS} Unicode code points, no NUL, well-formed Unicode. Stored and returned exactly as sent (never HTML-escaped): render it as text.`,
  },
);

export const clientMessageId = meta(
  z
    .string()
    .check(z.regex(/^[A-Za-z0-9._:-]{1,100}$/, { error: 'clientMessageId is 1 to 100 of A-Z a-z 0-9 . _ : -' })),
  { description: 'Chosen by the client; a retry with the same id returns the message already stored (200).' },
);

export const createConversationBody = z.strictObject({
  type: z.enum(conversationTypes),
  subject: z.nullish(plainText(255)),
  orderId: z.nullish(id('orderId')),
  participantIds: z._default(z.array(id('participant id')).check(z.maxLength(MAX_PARTICIPANTS - 1)), []),
});

const attachmentIds = meta(
  z.array(id('attachment id')).check(
    z.maxLength(MAX_ATTACHMENTS_PER_MESSAGE),
    z.refine((ids) => new Set(ids.map((i) => i.toLowerCase())).size === ids.length, {
      error: 'attachmentIds must not repeat an id',
    }),
  ),
  {
    description: `Up to ${MAX_ATTACHMENTS_PER_MESSAGE} of the caller's uploads to this conversation, each checked and not yet in a message.`,
  },
);

export const sendMessageBody = z
  .strictObject({
    content: z.optional(content),
    clientMessageId: z.nullish(clientMessageId),
    replyToId: meta(z.nullish(id('replyToId')), {
      description: 'A message of the same conversation this one answers.',
    }),
    attachmentIds: z.optional(attachmentIds),
  })
  .check(
    z.refine((body) => body.content !== undefined || (body.attachmentIds?.length ?? 0) > 0, {
      error: 'content is required unless attachmentIds names at least one attachment',
      path: ['content'],
    }),
  );

/** A media type as RFC 6838 spells it (type/subtype), without parameters. */
const mediaType = z.string().check(
  z.maxLength(127),
  z.regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$/, {
    error: 'contentType must be a media type such as image/png, without parameters',
  }),
);

export const createAttachmentBody = z.strictObject({
  filename: meta(
    plainText(255).check(
      z.minLength(1),
      // Control and format characters (a right-to-left override makes `gpj.exe` look like
      // `exe.jpg`), line and paragraph separators, and slashes.
      z.refine((name) => !/[\p{Cc}\p{Cf}\u2028\u2029/\\]/u.test(name), {
        error: 'filename must not contain control or format characters, line separators or slashes',
      }),
    ),
    {
      description:
        'The name shown to the participants and offered on download; 1 to 255 characters, without slashes, control or format characters.',
    },
  ),
  contentType: meta(mediaType, {
    description: 'One of the configured types; the file must be one (its first bytes are checked).',
  }),
  size: meta(z.number().check(z.int(), z.minimum(1), z.maximum(5 * 1024 ** 3)), {
    description: 'The exact size in bytes: the presigned upload accepts these many bytes, no more, no fewer.',
  }),
});

export const editMessageBody = z.strictObject({ content });

export const addParticipantBody = z.strictObject({ userId: id('userId') });

/** A display name: trimmed, 1 to 100 characters, no control characters (it goes into email headers' neighbours and pages). */
export const displayName = meta(
  plainText(100).check(
    z.trim(),
    z.minLength(1, { error: 'must not be empty' }),
    z.refine((name) => !/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(name), {
      error: 'must not contain control or format characters',
    }),
  ),
  { description: 'The name others see beside your messages (1–100 characters).' },
);

export const updateProfileBody = z
  .strictObject({
    displayName: z.optional(displayName),
    notifications: z.optional(z.strictObject({ email: z.boolean() })),
  })
  .check(
    z.refine((body) => body.displayName !== undefined || body.notifications !== undefined, {
      error: 'give displayName, notifications, or both',
    }),
  );

export const conversationNotificationsBody = z.strictObject({ muted: z.boolean() });

export const unsubscribeQuery = z.strictObject({
  token: meta(z.string().check(z.minLength(1), z.maxLength(2048)), {
    description: "The signed token of the email's List-Unsubscribe link.",
  }),
});

export const setConversationStatusBody = z.strictObject({ status: z.enum(conversationStatuses) });

// ---- responses --------------------------------------------------------------------------------

export const attachmentSchema = meta(
  z.object({
    id: z.guid(),
    filename: z.string(),
    contentType: z.string(),
    size: z.number().check(z.int(), z.minimum(1)),
  }),
  { id: 'Attachment' },
);

export const attachmentUploadSchema = meta(
  z.object({
    id: z.guid(),
    upload: z.object({
      method: z.literal('PUT'),
      url: z.url(),
      headers: meta(
        z.object({ 'Content-Type': z.string(), 'Content-Length': z.string(), 'If-None-Match': z.literal('*') }),
        {
          description:
            'Send exactly these with the file: the signature covers them (browsers set Content-Length from the body). If-None-Match makes the URL upload once.',
        },
      ),
    }),
    expiresAt: timestamp,
  }),
  { id: 'AttachmentUpload' },
);

export const attachmentDownloadSchema = meta(z.object({ url: z.url(), expiresAt: timestamp }), {
  id: 'AttachmentDownload',
});

export const messageSchema = meta(
  z.object({
    id: z.guid(),
    conversationId: z.guid(),
    senderId: z.nullable(z.guid()),
    kind: z.enum(messageKinds),
    content: meta(z.nullable(z.string()), { description: 'null once deleted.' }),
    clientMessageId: z.nullable(z.string()),
    readAt: z.nullable(timestamp),
    createdAt: timestamp,
    updatedAt: timestamp,
    editedAt: z.nullable(timestamp),
    deletedAt: meta(z.nullable(timestamp), { description: 'Set on a tombstone: content is null, reactions are gone.' }),
    revision: meta(z.number().check(z.int(), z.minimum(0)), {
      description: "The conversation's revision at this message's last change.",
    }),
    reactions: meta(
      z.array(z.object({ emoji: z.string(), count: z.number().check(z.int(), z.minimum(1)), me: z.boolean() })),
      { description: 'In order of first use; `me`: the caller reacted with it.' },
    ),
    replyTo: z.nullable(z.object({ id: z.guid(), senderId: z.nullable(z.guid()), preview: z.nullable(z.string()) })),
    attachments: meta(z.array(attachmentSchema), {
      description:
        'In the order they were sent; download each with GET /v1/messages/attachments/{id}. Empty once deleted.',
    }),
  }),
  { id: 'Message' },
);

export const participantSchema = meta(
  z.object({
    userId: z.guid(),
    role: z.enum(participantRoles),
    joinedAt: timestamp,
    lastReadAt: z.nullable(timestamp),
    displayName: meta(z.nullable(z.string()), { description: "The participant's name, from Cognito or PATCH /v1/me." }),
  }),
  { id: 'Participant' },
);

export const conversationSchema = meta(
  z.object({
    id: z.guid(),
    type: z.enum(conversationTypes),
    subject: z.nullable(z.string()),
    orderId: z.nullable(z.guid()),
    status: z.enum(conversationStatuses),
    createdAt: timestamp,
    updatedAt: timestamp,
    participants: z.array(participantSchema),
    lastMessage: meta(z.nullable(messageSchema), {
      description: 'Preview of the newest message; content cut to 200 code points.',
    }),
    unreadCount: meta(z.nullable(z.number().check(z.int(), z.minimum(0))), {
      description: "The caller's unread messages; null for an admin who is not a participant.",
    }),
    muted: meta(z.nullable(z.boolean()), {
      description: 'Whether the caller muted it (never emailed); null for an admin who is not a participant.',
    }),
    revision: meta(z.number().check(z.int(), z.minimum(0)), {
      description: 'Its newest change; pass it as changedAfter to get the messages that change after it.',
    }),
  }),
  { id: 'Conversation' },
);

const pageOf = <T extends z.ZodMiniType>(item: T, name: string) =>
  meta(z.object({ items: z.array(item), nextCursor: z.nullable(z.string()) }), { id: name });

export const conversationPage = pageOf(conversationSchema, 'ConversationPage');
export const messagePage = pageOf(messageSchema, 'MessagePage');

export const readMarkSchema = meta(
  z.object({ conversationId: z.guid(), lastReadAt: z.nullable(timestamp), unreadCount: z.literal(0) }),
  { id: 'ReadMark' },
);

export const unreadMarkSchema = meta(
  z.object({
    conversationId: z.guid(),
    lastReadAt: z.nullable(timestamp),
    unreadCount: z.number().check(z.int(), z.minimum(0)),
  }),
  { id: 'UnreadMark' },
);

export const messageVersionsSchema = meta(
  z.object({
    items: z.array(
      z.object({
        version: z.number().check(z.int(), z.minimum(1)),
        content: meta(z.nullable(z.string()), { description: 'null: the message had attachments only.' }),
        writtenAt: timestamp,
        replacedAt: timestamp,
      }),
    ),
  }),
  { id: 'MessageVersions' },
);

export const unreadTotalSchema = meta(
  z.object({
    unreadCount: z.number().check(z.int(), z.minimum(0)),
    conversationCount: z.number().check(z.int(), z.minimum(0)),
  }),
  { id: 'UnreadTotal' },
);

export const profileSchema = meta(
  z.object({
    id: z.guid(),
    email: z.nullable(z.string()),
    displayName: z.nullable(z.string()),
    role: z.enum(participantRoles),
    notifications: z.object({
      email: meta(z.boolean(), { description: 'Whether unread messages are emailed as digests.' }),
    }),
  }),
  { id: 'Profile' },
);

export const conversationNotificationsSchema = meta(z.object({ conversationId: z.guid(), muted: z.boolean() }), {
  id: 'ConversationNotifications',
});

export const unsubscribedSchema = meta(z.object({ unsubscribed: z.literal(true) }), { id: 'Unsubscribed' });

export const errorSchema = meta(
  z.object({ error: z.object({ code: z.enum(apiErrorCodes), message: z.string(), details: z.optional(z.unknown()) }) }),
  { id: 'Error' },
);

/** API Gateway's own answer when the JWT authorizer refuses a token. */
export const gatewayErrorSchema = meta(z.object({ message: z.string() }), { id: 'GatewayError' });
