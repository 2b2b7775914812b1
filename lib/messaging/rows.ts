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

/** A message as message_json (migration 0006) builds it. */
export interface MessageRow {
  id: string;
  conversation_id: string;
  sender_id: string | null;
  kind: Message['kind'];
  content: string | null;
  client_message_id: string | null;
  read_at: Time | null;
  created_at: Time;
  updated_at: Time;
  edited_at: Time | null;
  deleted_at: Time | null;
  revision: number | string;
  /** In order of first use, with who reacted: the API shows counts and whether the reader is one. */
  reactions: Array<{ emoji: string; users: string[] }> | null;
  reply_to: { id: string; sender_id: string | null; preview: string | null } | null;
  /** Written by the send (migration 0007). */
  attachments: Array<{ id: string; filename: string; content_type: string; size: number | string }> | null;
}

export interface ParticipantRow {
  user_id: string;
  role: ParticipantRole;
  joined_at: Time;
  last_read_at: Time | null;
  display_name: string | null;
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
  muted: boolean | null;
  revision: number | string;
  /** The time the listing is ordered and paged by. */
  activity_at: Time;
}

/** A message as `viewer` sees it: the reactions say whether the viewer is among those who reacted. */
export function toMessage(row: MessageRow, viewer: string | null): Message {
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
    editedAt: toIsoOrNull(row.edited_at),
    deletedAt: toIsoOrNull(row.deleted_at),
    revision: Number(row.revision),
    reactions: (row.reactions ?? []).map((r) => ({
      emoji: r.emoji,
      count: r.users.length,
      me: viewer !== null && r.users.includes(viewer),
    })),
    replyTo: row.reply_to
      ? { id: row.reply_to.id, senderId: row.reply_to.sender_id, preview: row.reply_to.preview }
      : null,
    attachments: (row.attachments ?? []).map((a) => ({
      id: a.id,
      filename: a.filename,
      contentType: a.content_type,
      size: Number(a.size),
    })),
  };
}

export function toParticipant(row: ParticipantRow): Participant {
  return {
    userId: row.user_id,
    role: row.role,
    joinedAt: toIso(row.joined_at),
    lastReadAt: toIsoOrNull(row.last_read_at),
    displayName: row.display_name ?? null,
  };
}

export function toConversation(row: ConversationRow, viewer: string | null): Conversation {
  return {
    id: row.id,
    type: row.type,
    subject: row.subject,
    orderId: row.order_id,
    status: row.status,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
    participants: (row.participants ?? []).map(toParticipant),
    lastMessage: row.last_message ? toMessage(row.last_message, viewer) : null,
    unreadCount: row.unread_count,
    muted: row.muted ?? null,
    revision: Number(row.revision),
  };
}

/** A page of conversations fetched with `limit + 1` rows: the extra row says there is more. */
export function toConversationPage(rows: ConversationRow[], limit: number, viewer: string): Page<Conversation> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map((row) => toConversation(row, viewer)),
    nextCursor:
      rows.length > limit && last ? encodeActivityCursor({ activityAt: toIso(last.activity_at), id: last.id }) : null,
  };
}
