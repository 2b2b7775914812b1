import { type RawBuilder, sql } from 'kysely';
import { uuid } from '../db/casts';
import { NotFoundError } from './errors';
import { type MessageRow, toMessage } from './rows';
import { type Audience, audienceOf, type Domain, messageColumns } from './sql';
import { toIsoOrNull } from './time';
import type { Caller, Message, ReadMark, ReadReceipt, UnreadTotal } from './types';

/**
 * Read marks: each participant's mark is a message seq, moved only forward; the unread count
 * kept on their participant row is moved with it, exactly. Each operation is one statement.
 */

/**
 * The messages a read-mark move reads first (others sent them, nobody has read them), locked in
 * seq order and skipping rows another reader holds: that reader is stamping them already, and
 * concurrent readers can never wait on each other in a cycle.
 */
const firstReads = (target: RawBuilder<unknown>, readerId: string) => sql`
  SELECT m.id FROM messages m, ${target} t
   WHERE m.conversation_id = t.conversation_id AND m.seq > t.old_seq AND m.seq <= t.seq
     AND m.read_at IS NULL AND m.sender_id IS DISTINCT FROM ${uuid(readerId)}
   ORDER BY m.seq
   FOR UPDATE OF m SKIP LOCKED`;

/**
 * Others' messages between a participant row's current read mark and a target's seq: what moving
 * the mark there makes read. Evaluated on the row as it is when the UPDATE takes its lock, and
 * every message up to the target committed before the target did, so the count is exact.
 */
const unreadBetween = (participant: RawBuilder<unknown>, target: RawBuilder<unknown>) => sql`(
  SELECT count(*) FROM messages m
   WHERE m.conversation_id = ${participant}.conversation_id
     AND m.seq > ${participant}.last_read_seq AND m.seq <= ${target}.seq
     AND m.sender_id IS DISTINCT FROM ${participant}.user_id)`;

/**
 * The caller's participant row is locked first, before any message row: the lock order every
 * statement keeps (conversation, then participants, then messages). Deleting an order's
 * conversation cascades through participants before messages; a read mark that stamped messages
 * first and then waited for its participant row would deadlock with it.
 */
const lockOwnMark = sql`FOR NO KEY UPDATE OF p`;

/** Moves the caller's own mark (alias `p`) forward to the target's seq, never back. */
const moveMark = (caller: Caller) => sql`
  UPDATE conversation_participants p
     SET last_read_seq = t.seq, last_read_at = now(), unread_count = p.unread_count - ${unreadBetween(sql`p`, sql`t`)}
    FROM target t
   WHERE p.conversation_id = t.conversation_id AND p.user_id = ${uuid(caller.userId)} AND p.last_read_seq < t.seq`;

/**
 * Moves the caller's read mark forward to this message (never back), and stamps `read_at` on
 * the messages it passes that others sent and nobody had read yet.
 */
export async function markMessageRead(
  d: Domain,
  caller: Caller,
  messageId: string,
): Promise<{ message: Message; receipt: ReadReceipt | null } & Audience> {
  const { rows } = await sql<
    MessageRow & { marked_at: Date | string | null; audience: string[] | null }
  >`/* read_marks.mark_message */
    WITH target AS (
      SELECT m.id, m.conversation_id, m.seq, p.last_read_seq AS old_seq
      FROM messages m
      JOIN conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = ${uuid(caller.userId)}
      WHERE m.id = ${uuid(messageId)}
      ${lockOwnMark}
    ),
    mark AS (${moveMark(caller)} RETURNING p.conversation_id, p.last_read_at),
    stamped AS (
      UPDATE messages m SET read_at = now()
      FROM (${firstReads(sql`target`, caller.userId)}) AS f
      WHERE m.id = f.id
      RETURNING m.id, m.read_at
    )
    SELECT ${messageColumns('m', { read_at: sql`coalesce(s.read_at, m.read_at)` })},
      (SELECT last_read_at FROM mark) AS marked_at,
      (SELECT ${audienceOf(sql`mark.conversation_id`, caller.userId)} FROM mark) AS audience
    FROM target t JOIN messages m ON m.id = t.id LEFT JOIN stamped s ON s.id = m.id
  `.execute(d.db);
  const row = rows[0];
  if (!row) throw new NotFoundError('message');
  const message = toMessage(row);
  return {
    message,
    receipt: row.marked_at === null ? null : receiptOf(caller, message.conversationId, row.marked_at, message.id),
    audience: row.audience ?? [],
  };
}

/** A read receipt: the reader's mark moved to this message. */
function receiptOf(caller: Caller, conversationId: string, at: Date | string, messageId: string | null): ReadReceipt {
  return { conversationId, userId: caller.userId, lastReadAt: toIsoOrNull(at)!, lastReadMessageId: messageId };
}

/** Moves the caller's read mark to the conversation's newest message. */
export async function markConversationRead(
  d: Domain,
  caller: Caller,
  conversationId: string,
): Promise<{ mark: ReadMark; receipt: ReadReceipt | null } & Audience> {
  const { rows } = await sql<{
    conversation_id: string;
    last_read_at: Date | string | null;
    moved: boolean;
    last_read_message_id: string | null;
    audience: string[] | null;
  }>`/* read_marks.mark_conversation */
    WITH target AS (
      SELECT p.conversation_id, p.last_read_seq AS old_seq, p.last_read_at, c.last_message_seq AS seq
      FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
      WHERE p.conversation_id = ${uuid(conversationId)} AND p.user_id = ${uuid(caller.userId)}
      ${lockOwnMark}
    ),
    mark AS (${moveMark(caller)} RETURNING p.last_read_at),
    stamped AS (
      UPDATE messages m SET read_at = now()
      FROM (${firstReads(sql`target`, caller.userId)}) AS f
      WHERE m.id = f.id
    )
    SELECT t.conversation_id, coalesce((SELECT last_read_at FROM mark), t.last_read_at) AS last_read_at,
      EXISTS (SELECT 1 FROM mark) AS moved,
      (SELECT m.id FROM messages m WHERE m.conversation_id = t.conversation_id AND m.seq = t.seq) AS last_read_message_id,
      (SELECT ${audienceOf(sql`t.conversation_id`, caller.userId)} FROM mark) AS audience
    FROM target t
  `.execute(d.db);
  const row = rows[0];
  if (!row) throw new NotFoundError('conversation');
  const mark: ReadMark = {
    conversationId: row.conversation_id,
    lastReadAt: toIsoOrNull(row.last_read_at),
    unreadCount: 0,
  };
  return {
    mark,
    receipt: row.moved ? receiptOf(caller, row.conversation_id, row.last_read_at!, row.last_read_message_id) : null,
    audience: row.audience ?? [],
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
