import type { ConversationStatus, ConversationType, MessageKind, ParticipantRole } from '../db/schema';
import type { UploadHeaders } from './attachment-files';

export type { ConversationStatus, ConversationType, MessageKind, ParticipantRole };

/** Who is asking: the Cognito `sub` and the role derived from their groups. */
export interface Caller {
  userId: string;
  role: ParticipantRole;
  isAdmin: boolean;
}

export interface Message {
  id: string;
  conversationId: string;
  senderId: string | null;
  kind: MessageKind;
  /** null once deleted (a tombstone). */
  content: string | null;
  clientMessageId: string | null;
  readAt: string | null;
  createdAt: string;
  updatedAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  /** The conversation's revision at this message's last change (send, edit, delete, reaction). */
  revision: number;
  /** In order of first use; `me`: the reader is one of those who reacted. */
  reactions: Reaction[];
  /** The message this one answers; preview null when that one is deleted. */
  replyTo: { id: string; senderId: string | null; preview: string | null } | null;
  /** In the order sent; empty once deleted. */
  attachments: Attachment[];
}

/** A file sent in a message (its bytes: GET /v1/messages/attachments/{id}). */
export interface Attachment {
  id: string;
  filename: string;
  contentType: string;
  size: number;
}

export interface CreateAttachmentInput {
  filename: string;
  contentType: string;
  size: number;
}

/** A started upload: PUT the file to `upload.url` with `upload.headers`, then send a message naming `id`. */
export interface AttachmentUpload {
  id: string;
  upload: { method: 'PUT'; url: string; headers: UploadHeaders };
  expiresAt: string;
}

export interface AttachmentDownload {
  url: string;
  expiresAt: string;
}

export interface Reaction {
  emoji: string;
  count: number;
  me: boolean;
}

/** An earlier content of a message, kept for moderation. */
export interface MessageVersion {
  version: number;
  /** null: the message had attachments only. */
  content: string | null;
  /** When this content was written (sent, or the edit that wrote it). */
  writtenAt: string;
  /** When an edit or the deletion replaced it. */
  replacedAt: string;
}

/** GET /v1/me. */
export interface Profile {
  id: string;
  email: string | null;
  displayName: string | null;
  role: ParticipantRole;
  notifications: { email: boolean };
}

/** PATCH /v1/me: what is given changes. */
export interface ProfileChange {
  displayName?: string;
  notifications?: { email: boolean };
}

export interface Participant {
  userId: string;
  role: ParticipantRole;
  joinedAt: string;
  lastReadAt: string | null;
  /** Their name (users.display_name), from Cognito or PATCH /v1/me. */
  displayName: string | null;
}

export interface Conversation {
  id: string;
  type: ConversationType;
  subject: string | null;
  orderId: string | null;
  status: ConversationStatus;
  createdAt: string;
  updatedAt: string;
  participants: Participant[];
  /** A preview: content is cut to LAST_MESSAGE_PREVIEW_CODE_POINTS. */
  lastMessage: Message | null;
  /** The caller's unread count; null when the caller (an admin) is not a participant. */
  unreadCount: number | null;
  /** Whether the caller muted it (no digests); null when the caller (an admin) is not a participant. */
  muted: boolean | null;
  /** Its newest change: `changedAfter` on the message list returns what changed since. */
  revision: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ConversationFilters {
  type?: ConversationType;
  status?: ConversationStatus;
  orderId?: string;
  updatedSince?: string;
}

export interface AdminConversationFilters extends ConversationFilters {
  participantId?: string;
}

export interface PageRequest {
  limit: number;
  offset: number;
  cursor?: string;
}

export interface MessagePageRequest {
  limit: number;
  offset: number;
  /** A conversation revision: return the messages changed since, in the order they changed. */
  changedAfter?: number;
  /** A message id: return messages older than it. */
  before?: string;
  /** A message id: return messages newer than it, oldest first. */
  after?: string;
}

export interface CreateConversationInput {
  type: ConversationType;
  subject?: string | null;
  orderId?: string | null;
  participantIds: string[];
}

export interface SendMessageInput {
  /** Optional when attachmentIds names at least one. */
  content?: string;
  attachmentIds?: string[];
  clientMessageId?: string | null;
  /** A message of the same conversation this one answers. */
  replyToId?: string | null;
}

export interface SendResult {
  message: Message;
  /** false when a retry with the same clientMessageId returned the message already stored. */
  created: boolean;
}

export interface ReadMark {
  conversationId: string;
  lastReadAt: string | null;
  /** Always 0: everything up to the conversation's newest message is read. */
  unreadCount: 0;
}

/** A participant's read mark moved: what the other participants hear (`conversation.read`). */
export interface ReadReceipt {
  conversationId: string;
  userId: string;
  lastReadAt: string;
  /** The newest message the reader has read. */
  lastReadMessageId: string | null;
}

/** Where a mark-unread left the caller's read mark. */
export interface UnreadMark {
  conversationId: string;
  lastReadAt: string | null;
  unreadCount: number;
}

export interface UnreadTotal {
  unreadCount: number;
  conversationCount: number;
}
