import { sql } from 'kysely';
import { uuid } from '../db/casts';
import { frame } from '../realtime/frames';
import { NotFoundError } from './errors';
import { push } from './push';
import { type MessageRow, toMessage } from './rows';
import type { Domain } from './sql';
import { toIsoOrNull } from './time';
import type { Caller, Message, ReadMark, ReadReceipt, UnreadMark, UnreadTotal } from './types';

/**
 * Read marks: each participant's mark is a message seq, moved only forward; the unread count
 * kept on their participant row is moved with it, exactly. Each operation is one statement.
 */

/**
 * A participant row `p`'s unread messages counted from the messages: others' live messages after
 * its read mark. What the kept `unread_count` must always equal; the invariants, the benchmark's
 * seed check and its repairs recount with it.
 */
export const RECOUNTED_UNREAD = `(SELECT count(*)::int FROM messages m
  WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq
    AND m.sender_id IS DISTINCT FROM p.user_id AND m.deleted_at IS NULL)`;

interface MoveRow {
  outcome: 'ok' | 'not_found';
  conversation_id: string | null;
  moved: boolean;
  last_read_at: Date | string | null;
  last_read_message_id: string | null;
  message: MessageRow | null;
  audience: string[] | null;
}

/**
 * Moves the caller's read mark forward (the function `read_marks_move`, one statement): to a
 * message, or to the conversation's newest. The caller's participant row is locked first (the
 * lock order every statement keeps: conversation, participants, messages) and the messages are
 * counted after it in a fresh snapshot, so the count is exact against concurrent sends and
 * deletes. Messages others sent that nobody had read get their `read_at`.
 */
async function moveMark(d: Domain, caller: Caller, conversationId: string | null, messageId: string | null) {
  const { rows } = await sql<MoveRow>`/* read_marks.move */
    SELECT outcome, conversation_id, moved, last_read_at, last_read_message_id, message, to_json(audience) AS audience
      FROM read_marks_move(${uuid(caller.userId)}, ${uuid(conversationId)}, ${uuid(messageId)})
  `.execute(d.db);
  const row = rows[0]!;
  if (row.outcome === 'ok' && row.moved) {
    const receipt = receiptOf(caller, row.conversation_id!, row.last_read_at!, row.last_read_message_id);
    await push(d, row.audience ?? [], frame('conversation.read', receipt));
  }
  return row;
}

/**
 * Moves the caller's read mark forward to this message (never back), and stamps `read_at` on
 * the messages it passes that others sent and nobody had read yet.
 */
export async function markMessageRead(d: Domain, caller: Caller, messageId: string): Promise<Message> {
  const row = await moveMark(d, caller, null, messageId);
  if (row.outcome === 'not_found') throw new NotFoundError('message');
  return toMessage(row.message!, caller.userId);
}

/** A read receipt: the reader's mark moved to this message. */
function receiptOf(caller: Caller, conversationId: string, at: Date | string, messageId: string | null): ReadReceipt {
  return { conversationId, userId: caller.userId, lastReadAt: toIsoOrNull(at)!, lastReadMessageId: messageId };
}

/** Moves the caller's read mark to the conversation's newest message. */
export async function markConversationRead(d: Domain, caller: Caller, conversationId: string): Promise<ReadMark> {
  const row = await moveMark(d, caller, conversationId, null);
  if (row.outcome === 'not_found') throw new NotFoundError('conversation');
  return { conversationId, lastReadAt: toIsoOrNull(row.last_read_at), unreadCount: 0 };
}

/**
 * Moves the caller's read mark back to just before this message (the one deliberate exception to
 * "never backwards"): the unread count becomes the messages others sent from it on, recounted
 * (deleted ones never count).
 */
export async function markMessageUnread(d: Domain, caller: Caller, messageId: string): Promise<UnreadMark> {
  const { rows } = await sql<{
    outcome: 'ok' | 'not_found';
    conversation_id: string | null;
    last_read_at: Date | string | null;
    unread_count: number | null;
  }>`/* read_marks.mark_unread */
    SELECT * FROM read_marks_mark_unread(${uuid(caller.userId)}, ${uuid(messageId)})
  `.execute(d.db);
  const row = rows[0]!;
  if (row.outcome === 'not_found') throw new NotFoundError('message');
  return {
    conversationId: row.conversation_id!,
    lastReadAt: toIsoOrNull(row.last_read_at),
    unreadCount: Number(row.unread_count),
  };
}

/**
 * The caller's unread messages across all their conversations: a sum of the kept counts, read
 * from the partial index of rows with something unread (participants_unread), so its cost follows
 * the conversations with unread messages, not every conversation the caller is in.
 */
export async function getUnreadTotal(d: Domain, caller: Caller): Promise<UnreadTotal> {
  const { rows } = await sql<{ unread: number; conversations: number }>`/* read_marks.unread_total */
    SELECT coalesce(sum(p.unread_count), 0)::int AS unread, count(*) FILTER (WHERE p.unread_count > 0)::int AS conversations
    FROM conversation_participants p
    WHERE p.user_id = ${uuid(caller.userId)} AND p.unread_count > 0
  `.execute(d.db);
  return { unreadCount: rows[0]?.unread ?? 0, conversationCount: rows[0]?.conversations ?? 0 };
}
