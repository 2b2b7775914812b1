import { sql } from 'kysely';
import { text, uuid, uuidArray } from '../db/casts';
import { frame } from '../realtime/frames';
import { removeAttachmentObjects } from './attachment-files';
import { normaliseContent } from './content';
import { isSingleEmoji } from './emoji';
import {
  AttachmentRejectedError,
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
} from './errors';
import { MAX_REACTIONS_PER_USER, MESSAGE_PAGE_BYTE_BUDGET } from './limits';
import { push, pushPerReader } from './push';
import { type MessageRow, toMessage } from './rows';
import { type Domain, retryAfter, windowOf } from './sql';
import { toIso } from './time';
import type { Caller, Message, MessagePageRequest, MessageVersion, Page, SendMessageInput, SendResult } from './types';

/** Messages: reading a page, sending, editing, deleting, reacting. Each operation is one statement. */

/**
 * A page of messages, always returned oldest first.
 * - no cursor: the newest `limit` messages (after skipping `offset` newest ones);
 * - `before`: the `limit` messages just older than that message; nextCursor pages further back;
 * - `after`: the `limit` messages just newer than that message; nextCursor is set while more
 *   newer messages exist. A poller passes the newest id it holds and gets only what is new.
 * Order is the conversation's `seq`, assigned under the conversation's lock, so commit order
 * equals seq order and `after` never skips a late commit.
 */
export async function listMessages(
  d: Domain,
  caller: Caller,
  conversationId: string,
  request: MessagePageRequest,
): Promise<Page<Message>> {
  const cursors = [request.before, request.after, request.changedAfter].filter((c) => c !== undefined);
  if (cursors.length > 1) {
    throw new InvalidInputError('use one of before, after and changedAfter', {
      field: request.before ? 'before' : 'after',
    });
  }
  const anchorId = request.before ?? request.after ?? null;
  const forward = Boolean(request.after);
  const changedAfter = request.changedAfter ?? null;
  // The function messages_page (migrations 0009 and 0010): one statement whose plans the session keeps.
  const { rows } = await sql<
    Omit<MessageRow, 'conversation_id'> & { outcome: 'ok' | 'not_found' | 'bad_anchor' | null; fetched: number | null }
  >`/* messages.list */
    SELECT * FROM messages_page(${uuid(conversationId)}, ${uuid(caller.userId)}, ${caller.isAdmin}, ${uuid(anchorId)},
      ${forward}, cast(${changedAfter === null ? null : String(changedAfter)} as bigint), ${sql.lit(request.limit)},
      ${sql.lit(request.offset)}, ${sql.lit(MESSAGE_PAGE_BYTE_BUDGET)})
  `.execute(d.db);
  const head = rows[0]!;
  if (head.outcome === 'not_found') throw new NotFoundError('conversation');
  if (head.outcome === 'bad_anchor') {
    throw new InvalidInputError('cursor is not a message of this conversation', {
      field: request.before ? 'before' : 'after',
    });
  }
  // In the page's index order, away from the anchor. An ordinary page brings one row more than
  // asked when there are more; a page cut by its byte budget says how many rows it read instead.
  const fetched = rows.filter((r) => r.id !== null);
  const hasMore = head.fetched === null ? fetched.length > request.limit : head.fetched > fetched.length;
  // The rows leave out the conversation's id: it is the one asked for (in PostgreSQL's lower case).
  const conversation = conversationId.toLowerCase();
  const page = fetched
    .slice(0, request.limit)
    .map((r) => toMessage({ ...r, conversation_id: conversation }, caller.userId));
  const backward = !forward && changedAfter === null;
  const items = backward ? page.reverse() : page;
  if (changedAfter !== null) {
    const last = items[items.length - 1];
    return { items, nextCursor: hasMore && last ? String(last.revision) : null };
  }
  const edge = forward ? items[items.length - 1] : items[0];
  return { items, nextCursor: hasMore && edge ? edge.id : null };
}

type SendOutcome =
  | 'created'
  | 'existing'
  | 'not_found'
  | 'bad_reply'
  | 'closed'
  | 'rate_limited'
  | 'attachment_unknown'
  | 'attachment_pending'
  | 'attachment_rejected'
  | 'attachment_used';

/**
 * Sends a message (the function `messages_send`, one statement): membership, an earlier message
 * with this clientMessageId (returned, consuming nothing), the conversation being active, the
 * attachments (each the sender's upload to this conversation, checked and unused), the rate limit,
 * then the message, the conversation's counter and the sender's read mark. Every check runs after
 * the conversation's lock, so concurrent retries, closes, leaves and sends of the same attachment
 * are seen.
 */
export async function sendMessage(
  d: Domain,
  caller: Caller,
  conversationId: string,
  input: SendMessageInput,
): Promise<SendResult> {
  const attachmentIds = input.attachmentIds ?? [];
  if (input.content === undefined && attachmentIds.length === 0)
    throw new InvalidInputError('content is required unless attachmentIds names at least one attachment', {
      field: 'content',
    });
  const content = input.content === undefined ? null : normaliseContent(input.content);
  const { sendLimit, sendWindowSeconds } = d.limits;
  const { rows } = await sql<{
    outcome: SendOutcome;
    retry_after: number | null;
    message: MessageRow | null;
    audience: string[] | null;
    attachment_id: string | null;
  }>`/* messages.send */
    SELECT outcome, retry_after, message, to_json(audience) AS audience, attachment_id FROM messages_send(
      ${uuid(conversationId)}, ${uuid(caller.userId)}, ${text(content)}, ${text(input.clientMessageId)},
      ${uuid(input.replyToId)}, ${sql.lit(sendLimit)}, ${windowOf(sendWindowSeconds)}, ${uuidArray(attachmentIds)})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'created':
    case 'existing': {
      const message = toMessage(row.message!, caller.userId);
      // A retry returns the stored message and pushes nothing: it was pushed when it was created.
      if (row.outcome === 'created') await push(d, row.audience ?? [], frame('message.created', message));
      return { message, created: row.outcome === 'created' };
    }
    case 'not_found':
      throw new NotFoundError('conversation');
    case 'bad_reply':
      throw new InvalidInputError('replyToId is not a message of this conversation', { field: 'replyToId' });
    case 'closed':
      throw new ConflictError('conversation_closed', 'The conversation is closed and accepts no new messages');
    case 'rate_limited':
      throw new RateLimitedError(retryAfter(row.retry_after, sendWindowSeconds), 'messages');
    case 'attachment_unknown':
      throw new InvalidInputError('attachmentIds names no upload of yours to this conversation', {
        field: 'attachmentIds',
        attachmentId: row.attachment_id,
      });
    case 'attachment_pending':
      throw new ConflictError('attachment_not_ready', 'An attachment is not uploaded and checked yet; retry shortly', {
        attachmentId: row.attachment_id,
      });
    case 'attachment_used':
      throw new ConflictError('attachment_in_use', 'An attachment is already in a message', {
        attachmentId: row.attachment_id,
      });
    case 'attachment_rejected':
      throw new AttachmentRejectedError(row.attachment_id!);
  }
}

/**
 * A message a change answered, as the caller sees it; when it changed, `message.updated` goes to
 * each participant as they see it (their own reactions' `me`).
 */
async function changedMessage(
  d: Domain,
  row: MessageRow,
  changed: boolean,
  audience: Record<string, string[]> | null,
  caller: Caller,
): Promise<Message> {
  if (changed) await pushPerReader(d, audience ?? {}, (viewer) => toMessage(row, viewer));
  return toMessage(row, caller.userId);
}

/**
 * The sender edits their own message (the function `messages_edit`, one statement): the earlier
 * content is kept as a version for moderation, and the conversation's revision moves. Editing to
 * the same content changes nothing.
 */
export async function editMessage(
  d: Domain,
  caller: Caller,
  messageId: string,
  input: { content: string },
): Promise<Message> {
  const content = normaliseContent(input.content);
  const { rows } = await sql<{
    outcome: 'ok' | 'unchanged' | 'not_found' | 'not_editable' | 'forbidden' | 'closed';
    message: MessageRow | null;
    audience: Record<string, string[]> | null;
  }>`/* messages.edit */
    SELECT outcome, message, audience FROM messages_edit(${uuid(messageId)}, ${uuid(caller.userId)}, ${text(content)})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'ok':
    case 'unchanged':
      return changedMessage(d, row.message!, row.outcome === 'ok', row.audience, caller);
    case 'not_found':
      throw new NotFoundError('message');
    case 'forbidden':
      throw new ForbiddenError('Only the sender edits a message');
    case 'not_editable':
      throw new ConflictError('message_not_editable', 'System messages and deleted messages cannot be edited');
    case 'closed':
      throw new ConflictError('conversation_closed', 'The conversation is closed');
  }
}

/**
 * Deletes a message (the function `messages_delete`, one statement): the sender, or an admin
 * anywhere. It stays as a tombstone; those who had not read it have one unread less. Deleting a
 * tombstone again answers it as it is.
 */
export async function deleteMessage(d: Domain, caller: Caller, messageId: string): Promise<Message> {
  const { rows } = await sql<{
    outcome: 'ok' | 'already' | 'not_found' | 'forbidden';
    message: MessageRow | null;
    audience: string[] | null;
    removed: Array<{ id: string; conversation_id: string }> | null;
  }>`/* messages.delete */
    SELECT outcome, message, to_json(audience) AS audience, removed
      FROM messages_delete(${uuid(messageId)}, ${uuid(caller.userId)}, ${caller.isAdmin})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'ok':
    case 'already': {
      const message = toMessage(row.message!, caller.userId);
      if (row.outcome === 'ok')
        await Promise.all([
          push(d, row.audience ?? [], frame('message.deleted', message)),
          removeAttachmentObjects(d, row.removed ?? []),
        ]);
      return message;
    }
    case 'not_found':
      throw new NotFoundError('message');
    case 'forbidden':
      throw new ForbiddenError('Only the sender or an admin deletes a message');
  }
}

/**
 * Adds or removes the caller's reaction (the function `messages_react`, one statement).
 * Idempotent either way; at most MAX_REACTIONS_PER_USER distinct reactions per user and message.
 */
export const addReaction = (d: Domain, caller: Caller, messageId: string, emoji: string) =>
  react(d, caller, messageId, emoji, true);

export const removeReaction = (d: Domain, caller: Caller, messageId: string, emoji: string) =>
  react(d, caller, messageId, emoji, false);

async function react(d: Domain, caller: Caller, messageId: string, emoji: string, add: boolean): Promise<Message> {
  if (!isSingleEmoji(emoji)) throw new InvalidInputError('emoji must be exactly one emoji', { field: 'emoji' });
  const { rows } = await sql<{
    outcome: 'ok' | 'unchanged' | 'not_found' | 'deleted' | 'closed' | 'too_many';
    message: MessageRow | null;
    audience: Record<string, string[]> | null;
  }>`/* messages.react */
    SELECT outcome, message, audience
      FROM messages_react(${uuid(messageId)}, ${uuid(caller.userId)}, ${text(emoji)}, ${add}, ${sql.lit(MAX_REACTIONS_PER_USER)})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'ok':
    case 'unchanged':
      return changedMessage(d, row.message!, row.outcome === 'ok', row.audience, caller);
    case 'not_found':
      throw new NotFoundError('message');
    case 'deleted':
      throw new ConflictError('message_deleted', 'The message is deleted');
    case 'closed':
      throw new ConflictError('conversation_closed', 'The conversation is closed');
    case 'too_many':
      throw new ConflictError(
        'too_many_reactions',
        `At most ${MAX_REACTIONS_PER_USER} different reactions per person and message`,
      );
  }
}

/** A message's earlier contents, oldest first: admins only (moderation). */
export async function listMessageVersions(d: Domain, caller: Caller, messageId: string): Promise<MessageVersion[]> {
  if (!caller.isAdmin) throw new ForbiddenError('This needs the admin group');
  const { rows } = await sql<{
    exists: boolean;
    versions: Array<{ version: number; content: string | null; written_at: string; replaced_at: string }> | null;
  }>`/* messages.versions */
    SELECT EXISTS (SELECT 1 FROM messages m WHERE m.id = ${uuid(messageId)}) AS exists,
      (SELECT json_agg(json_build_object('version', v.version, 'content', v.content, 'written_at', v.written_at,
                                         'replaced_at', v.replaced_at) ORDER BY v.version)
         FROM message_versions v WHERE v.message_id = ${uuid(messageId)}) AS versions
  `.execute(d.db);
  if (!rows[0]?.exists) throw new NotFoundError('message');
  return (rows[0].versions ?? []).map((v) => ({
    version: v.version,
    content: v.content,
    writtenAt: toIso(v.written_at),
    replacedAt: toIso(v.replaced_at),
  }));
}
