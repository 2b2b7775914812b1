import type { ParticipantRole } from '../db/schema';
import { encodeActivityCursor } from './cursor';
import { toIso, toIsoOrNull } from './time';
import type { Conversation, Message, Page, Participant } from './types';

/**
 * The rows the statements return and their one mapper each. JSON built in SQL uses the column
 * names too (see sql.ts), so a nested message or participant maps with the same function.
 * Timestamps arrive as `Date` from a column and as ISO strings from JSON.
 */
type Time = Date | string;

export interface MessageRow {
  id: string;
  conversation_id: string;
  sender_id: string | null;
  kind: Message['kind'];
  content: string;
  client_message_id: string | null;
  read_at: Time | null;
  created_at: Time;
  updated_at: Time;
}

export interface ParticipantRow {
  user_id: string;
  role: ParticipantRole;
  joined_at: Time;
  last_read_at: Time | null;
}

export interface ConversationRow {
  id: string;
  type: Conversation['type'];
  subject: string | null;
  order_id: string | null;
  status: Conversation['status'];
  created_at: Time;
  updated_at: Time;
  participants: ParticipantRow[] | null;
  last_message: MessageRow | null;
  unread_count: number | null;
  /** The time the listing is ordered and paged by. */
  activity_at: Time;
}

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    senderId: row.sender_id,
    kind: row.kind,
    content: row.content,
    clientMessageId: row.client_message_id,
    readAt: toIsoOrNull(row.read_at),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

export function toParticipant(row: ParticipantRow): Participant {
  return {
    userId: row.user_id,
    role: row.role,
    joinedAt: toIso(row.joined_at),
    lastReadAt: toIsoOrNull(row.last_read_at),
  };
}

export function toConversation(row: ConversationRow): Conversation {
  return {
    id: row.id,
    type: row.type,
    subject: row.subject,
    orderId: row.order_id,
    status: row.status,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
    participants: (row.participants ?? []).map(toParticipant),
    lastMessage: row.last_message ? toMessage(row.last_message) : null,
    unreadCount: row.unread_count,
  };
}

/** A page of conversations fetched with `limit + 1` rows: the extra row says there is more. */
export function toConversationPage(rows: ConversationRow[], limit: number): Page<Conversation> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(toConversation),
    nextCursor:
      rows.length > limit && last ? encodeActivityCursor({ activityAt: toIso(last.activity_at), id: last.id }) : null,
  };
}
