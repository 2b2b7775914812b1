import type { ConversationStatus, ConversationType, MessageKind, ParticipantRole } from '../db/schema';

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
  content: string;
  clientMessageId: string | null;
  readAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Participant {
  userId: string;
  role: ParticipantRole;
  joinedAt: string;
  lastReadAt: string | null;
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
  content: string;
  clientMessageId?: string | null;
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

export interface UnreadTotal {
  unreadCount: number;
  conversationCount: number;
}
