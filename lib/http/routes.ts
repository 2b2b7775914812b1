import type * as z from 'zod/mini';
import * as s from './schemas';

/**
 * The only list of routes. The CDK stack makes one Lambda and one API Gateway route from each
 * entry, the local server serves them, and the OpenAPI document is generated from them.
 * A route's handler is `functions/http/<id>.ts`, exporting `handler`.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type RouteBinding =
  | 'database'
  | 'sendRate'
  | 'conversationRate'
  | 'participantRate'
  | 'connections'
  | 'attachmentUploads'
  | 'attachmentDownloads'
  | 'attachmentRemoval'
  | 'outboxRelay'
  | 'unsubscribeKey';

export interface RouteDefinition {
  id: string;
  method: HttpMethod;
  /** API Gateway path syntax: `{name}` for a path parameter. */
  path: string;
  /**
   * `admin` routes answer 403 to callers without the admin group; `public` routes have no
   * authorizer (the one-click unsubscribe, whose link carries its own signed token).
   */
  access: 'user' | 'admin' | 'public';
  /** `send` routes get tighter API Gateway throttling than `default` ones (the per-user limit is in the database). */
  rateLimit: 'default' | 'send';
  /**
   * What the route's Lambda may touch; the CDK stack grants it these and nothing else
   * (lib/infra/messaging-function.ts). `database`: the Data API as the application role;
   * `sendRate`, `conversationRate`, `participantRate`: the per-user limits of sending, creating
   * conversations and adding people; `connections`: PostToConnection on the WebSocket API, for
   * the routes whose change is pushed to the participants' sockets; `attachmentUploads`,
   * `attachmentDownloads`, `attachmentRemoval`: presigning PUTs, presigning GETs, and deleting
   * objects under the attachments bucket's prefix (the presigned request carries the signer's
   * rights, so each presigning function holds exactly the one it signs for); `outboxRelay`:
   * invoking the outbox relay asynchronously, for the routes whose statement queues domain events
   * (the HTTP handler nudges it once the write's statement has returned, beside its pushes);
   * `unsubscribeKey`: reading the key of unsubscribe links.
   */
  bindings: readonly RouteBinding[];
  summary: string;
  tag: 'Conversations' | 'Messages' | 'Attachments' | 'Participants' | 'Profile' | 'Admin';
  params?: z.ZodMiniObject;
  query?: z.ZodMiniObject;
  body?: z.ZodMiniType;
  /** Success statuses and their bodies: JSON of a schema, none, or (`html`) a page for a person's browser. */
  responses: Record<number, { description: string; schema?: z.ZodMiniType; html?: true }>;
  /** Error statuses this route can answer besides 400/401/500/503. */
  errors: number[];
}

const route = <const R extends RouteDefinition>(r: R) => r;

/*
 * Each route is an export of its own, so a handler that imports this module as a namespace
 * (`import * as routes`) bundles its own route and nothing of the others (esbuild drops the
 * unused exports: the calls are marked pure). `routes` and `routeList` gather them for the
 * stacks, the local server and the OpenAPI document.
 */
export const listConversations = /* @__PURE__ */ route({
  id: 'list-conversations',
  method: 'GET',
  path: '/v1/messages/conversations',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Conversations',
  summary: "The caller's conversations, newest activity first, each with its last message and unread count",
  query: s.listConversationsQuery,
  responses: { 200: { description: 'A page of conversations', schema: s.conversationPage } },
  errors: [],
});
export const createConversation = /* @__PURE__ */ route({
  id: 'create-conversation',
  method: 'POST',
  path: '/v1/messages/conversations',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'conversationRate', 'connections', 'outboxRelay'],
  tag: 'Conversations',
  summary: 'Create a conversation; the caller joins it with the named participants',
  body: s.createConversationBody,
  responses: { 201: { description: 'The conversation', schema: s.conversationSchema } },
  errors: [404, 409, 413, 415, 422, 429],
});
export const getConversation = /* @__PURE__ */ route({
  id: 'get-conversation',
  method: 'GET',
  path: '/v1/messages/conversations/{id}',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Conversations',
  summary: 'A conversation with its participants',
  params: s.conversationPath,
  responses: { 200: { description: 'The conversation', schema: s.conversationSchema } },
  errors: [404],
});
export const listMessages = /* @__PURE__ */ route({
  id: 'list-messages',
  method: 'GET',
  path: '/v1/messages/conversations/{id}/messages',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Messages',
  summary: 'A page of messages, oldest first: the newest by default, or before/after a message id',
  params: s.conversationPath,
  query: s.listMessagesQuery,
  responses: { 200: { description: 'A page of messages', schema: s.messagePage } },
  errors: [404],
});
export const sendMessage = /* @__PURE__ */ route({
  id: 'send-message',
  method: 'POST',
  path: '/v1/messages/conversations/{id}/messages',
  access: 'user',
  rateLimit: 'send',
  bindings: ['database', 'sendRate', 'connections', 'outboxRelay'],
  tag: 'Messages',
  summary: 'Send a message (idempotent with clientMessageId), with text, attachments, or both',
  params: s.conversationPath,
  body: s.sendMessageBody,
  responses: {
    201: { description: 'The message was stored', schema: s.messageSchema },
    200: { description: 'A retry: the message stored earlier with this clientMessageId', schema: s.messageSchema },
  },
  errors: [404, 409, 413, 415, 422, 429],
});
export const createAttachment = /* @__PURE__ */ route({
  id: 'create-attachment',
  method: 'POST',
  path: '/v1/messages/conversations/{id}/attachments',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'attachmentUploads'],
  tag: 'Attachments',
  summary: 'Start an upload: a presigned PUT for exactly this size and type, then send a message naming its id',
  params: s.conversationPath,
  body: s.createAttachmentBody,
  responses: { 201: { description: 'Where and how to upload the file', schema: s.attachmentUploadSchema } },
  errors: [404, 409, 413, 415, 429],
});
export const getAttachment = /* @__PURE__ */ route({
  id: 'get-attachment',
  method: 'GET',
  path: '/v1/messages/attachments/{id}',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'attachmentDownloads'],
  tag: 'Attachments',
  summary: 'A presigned download of an attachment, for the participants (and admins)',
  params: s.attachmentPath,
  responses: { 200: { description: 'Where to download the file', schema: s.attachmentDownloadSchema } },
  errors: [404],
});
export const markMessageRead = /* @__PURE__ */ route({
  id: 'mark-message-read',
  method: 'PATCH',
  path: '/v1/messages/{id}/read',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'connections', 'outboxRelay'],
  tag: 'Messages',
  summary: "Move the caller's read mark forward to this message (never back)",
  params: s.messagePath,
  responses: { 200: { description: 'The message', schema: s.messageSchema } },
  errors: [404],
});
export const editMessage = /* @__PURE__ */ route({
  id: 'edit-message',
  method: 'PATCH',
  path: '/v1/messages/{id}',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'connections'],
  tag: 'Messages',
  summary: 'Edit your own message; the earlier content is kept for moderation',
  params: s.messagePath,
  body: s.editMessageBody,
  responses: { 200: { description: 'The edited message (editedAt set)', schema: s.messageSchema } },
  errors: [403, 404, 409, 413, 415],
});
export const deleteMessage = /* @__PURE__ */ route({
  id: 'delete-message',
  method: 'DELETE',
  path: '/v1/messages/{id}',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'connections', 'attachmentRemoval'],
  tag: 'Messages',
  summary: 'Delete a message (the sender, or an admin anywhere); it stays as a tombstone, its attachments are deleted',
  params: s.messagePath,
  responses: { 200: { description: 'The tombstone (also when it was deleted already)', schema: s.messageSchema } },
  errors: [403, 404],
});
export const addReaction = /* @__PURE__ */ route({
  id: 'add-reaction',
  method: 'PUT',
  path: '/v1/messages/{id}/reactions/{emoji}',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'connections'],
  tag: 'Messages',
  summary: "Add the caller's reaction (idempotent); at most 20 different ones per person and message",
  params: s.reactionPath,
  responses: { 200: { description: 'The message', schema: s.messageSchema } },
  errors: [404, 409],
});
export const removeReaction = /* @__PURE__ */ route({
  id: 'remove-reaction',
  method: 'DELETE',
  path: '/v1/messages/{id}/reactions/{emoji}',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'connections'],
  tag: 'Messages',
  summary: "Remove the caller's reaction (idempotent)",
  params: s.reactionPath,
  responses: { 200: { description: 'The message', schema: s.messageSchema } },
  errors: [404, 409],
});
export const markMessageUnread = /* @__PURE__ */ route({
  id: 'mark-message-unread',
  method: 'PATCH',
  path: '/v1/messages/{id}/unread',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Messages',
  summary: "Move the caller's read mark back to just before this message",
  params: s.messagePath,
  responses: { 200: { description: 'The read mark and the unread count', schema: s.unreadMarkSchema } },
  errors: [404],
});
export const markConversationRead = /* @__PURE__ */ route({
  id: 'mark-conversation-read',
  method: 'PATCH',
  path: '/v1/messages/conversations/{id}/read',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'connections', 'outboxRelay'],
  tag: 'Conversations',
  summary: 'Mark every message of the conversation read for the caller',
  params: s.conversationPath,
  responses: { 200: { description: 'The read mark', schema: s.readMarkSchema } },
  errors: [404],
});
export const addParticipant = /* @__PURE__ */ route({
  id: 'add-participant',
  method: 'POST',
  path: '/v1/messages/conversations/{id}/participants',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'participantRate', 'connections', 'outboxRelay'],
  tag: 'Participants',
  summary: 'Add a participant (any participant may; admins anywhere)',
  params: s.conversationPath,
  body: s.addParticipantBody,
  responses: {
    201: { description: 'Added', schema: s.participantSchema },
    200: { description: 'Already a participant', schema: s.participantSchema },
  },
  errors: [404, 409, 413, 415, 422, 429],
});
export const removeParticipant = /* @__PURE__ */ route({
  id: 'remove-participant',
  method: 'DELETE',
  path: '/v1/messages/conversations/{id}/participants/{userId}',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database', 'connections', 'outboxRelay'],
  tag: 'Participants',
  summary: 'Remove a participant; removing yourself is leaving. Only admins remove others',
  params: s.participantPath,
  responses: { 204: { description: 'Removed' } },
  errors: [403, 404],
});
export const unreadTotal = /* @__PURE__ */ route({
  id: 'get-unread-total',
  method: 'GET',
  path: '/v1/messages/unread',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Messages',
  summary: "The caller's unread messages across all conversations",
  responses: { 200: { description: 'Totals', schema: s.unreadTotalSchema } },
  errors: [],
});
export const getProfile = /* @__PURE__ */ route({
  id: 'get-profile',
  method: 'GET',
  path: '/v1/me',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Profile',
  summary: "The caller's profile: email and name from Cognito, and whether digests are emailed",
  responses: { 200: { description: 'The profile', schema: s.profileSchema } },
  errors: [],
});
export const updateProfile = /* @__PURE__ */ route({
  id: 'update-profile',
  method: 'PATCH',
  path: '/v1/me',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Profile',
  summary: 'Change the name others see, or turn email digests on or off',
  body: s.updateProfileBody,
  responses: { 200: { description: 'The profile', schema: s.profileSchema } },
  errors: [413, 415],
});
export const setConversationNotifications = /* @__PURE__ */ route({
  id: 'set-conversation-notifications',
  method: 'PATCH',
  path: '/v1/messages/conversations/{id}/notifications',
  access: 'user',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Conversations',
  summary: 'Mute or unmute a conversation for the caller: a muted one is never emailed',
  params: s.conversationPath,
  body: s.conversationNotificationsBody,
  responses: { 200: { description: "The caller's setting", schema: s.conversationNotificationsSchema } },
  errors: [404, 413, 415],
});
export const unsubscribe = /* @__PURE__ */ route({
  id: 'unsubscribe',
  method: 'POST',
  path: '/v1/notifications/unsubscribe',
  access: 'public',
  rateLimit: 'default',
  bindings: ['database', 'unsubscribeKey'],
  tag: 'Profile',
  summary:
    "One-click unsubscribe (RFC 8058), without signing in: the link's token names the user; turns their email digests off",
  query: s.unsubscribeQuery,
  responses: { 200: { description: 'Email digests are off for that user', schema: s.unsubscribedSchema } },
  errors: [403],
});
export const unsubscribePage = /* @__PURE__ */ route({
  id: 'unsubscribe-page',
  method: 'GET',
  path: '/v1/notifications/unsubscribe',
  access: 'public',
  rateLimit: 'default',
  bindings: [],
  tag: 'Profile',
  summary:
    "The email footer's unsubscribe link, opened in a browser: a page with a button that sends the one-click POST. A GET changes nothing (RFC 8058: link scanners open links)",
  query: s.unsubscribeQuery,
  responses: { 200: { description: 'An HTML page asking to confirm', html: true } },
  errors: [],
});
export const adminListConversations = /* @__PURE__ */ route({
  id: 'admin-list-conversations',
  method: 'GET',
  path: '/v1/admin/messages/conversations',
  access: 'admin',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Admin',
  summary: 'Every conversation, newest activity first, with filters',
  query: s.adminListConversationsQuery,
  responses: { 200: { description: 'A page of conversations', schema: s.conversationPage } },
  errors: [403],
});
export const adminGetConversation = /* @__PURE__ */ route({
  id: 'admin-get-conversation',
  method: 'GET',
  path: '/v1/admin/messages/conversations/{id}',
  access: 'admin',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Admin',
  summary: 'Any conversation, with its participants and their read marks',
  params: s.conversationPath,
  responses: { 200: { description: 'The conversation', schema: s.conversationSchema } },
  errors: [403, 404],
});
export const adminSetConversationStatus = /* @__PURE__ */ route({
  id: 'admin-set-conversation-status',
  method: 'PATCH',
  path: '/v1/admin/messages/conversations/{id}',
  access: 'admin',
  rateLimit: 'default',
  bindings: ['database', 'connections', 'outboxRelay'],
  tag: 'Admin',
  summary: 'Close or reopen a conversation; a closed one accepts no new messages',
  params: s.conversationPath,
  body: s.setConversationStatusBody,
  responses: { 200: { description: 'The conversation', schema: s.conversationSchema } },
  errors: [403, 404, 413, 415],
});
export const adminListMessageVersions = /* @__PURE__ */ route({
  id: 'admin-list-message-versions',
  method: 'GET',
  path: '/v1/admin/messages/{id}/versions',
  access: 'admin',
  rateLimit: 'default',
  bindings: ['database'],
  tag: 'Admin',
  summary: "A message's earlier contents, oldest first (edits and the deleted content: moderation)",
  params: s.messagePath,
  responses: { 200: { description: 'Earlier versions', schema: s.messageVersionsSchema } },
  errors: [403, 404],
});
export const routes = {
  listConversations,
  createConversation,
  getConversation,
  listMessages,
  sendMessage,
  createAttachment,
  getAttachment,
  markMessageRead,
  editMessage,
  deleteMessage,
  addReaction,
  removeReaction,
  markMessageUnread,
  markConversationRead,
  addParticipant,
  removeParticipant,
  unreadTotal,
  getProfile,
  updateProfile,
  setConversationNotifications,
  unsubscribe,
  unsubscribePage,
  adminListConversations,
  adminGetConversation,
  adminSetConversationStatus,
  adminListMessageVersions,
} as const satisfies Record<string, RouteDefinition>;

export const routeList: RouteDefinition[] = /* @__PURE__ */ Object.values(routes);

/** Every method the routes use, sorted: what CORS preflights allow, deployed and local. */
export const routeMethods: readonly HttpMethod[] = /* @__PURE__ */ (() =>
  [...new Set(routeList.map((r) => r.method))].sort())();

/** `GET /v1/messages/conversations/{id}`: API Gateway's route key. */
export const routeKey = (r: RouteDefinition) => `${r.method} ${r.path}`;
