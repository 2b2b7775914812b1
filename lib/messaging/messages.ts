import { sql } from 'kysely';
import { text, uuid } from '../db/casts';
import { normaliseContent } from './content';
import { ConflictError, InvalidInputError, NotFoundError, RateLimitedError } from './errors';
import { MESSAGE_PAGE_BYTE_BUDGET } from './limits';
import { type MessageRow, toMessage } from './rows';
import { type Audience, type Domain, retryAfter, windowOf } from './sql';
import type { Caller, Message, MessagePageRequest, Page, SendMessageInput, SendResult } from './types';

/** Messages: reading a page, and sending. Each operation is one statement. */

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
  if (request.before && request.after) {
    throw new InvalidInputError('use either before or after, not both', { field: 'before' });
  }
  const anchorId = request.before ?? request.after ?? null;
  const forward = Boolean(request.after);
  // The function messages_list (migration 0004): one statement whose plans the session keeps.
  const { rows } = await sql<
    MessageRow & { outcome: 'ok' | 'not_found' | 'bad_anchor'; fetched: number }
  >`/* messages.list */
    SELECT * FROM messages_list(${uuid(conversationId)}, ${uuid(caller.userId)}, ${caller.isAdmin}, ${uuid(anchorId)},
      ${forward}, ${sql.lit(request.limit)}, ${sql.lit(request.offset)}, ${sql.lit(MESSAGE_PAGE_BYTE_BUDGET)})
  `.execute(d.db);
  const head = rows[0]!;
  if (head.outcome === 'not_found') throw new NotFoundError('conversation');
  if (head.outcome === 'bad_anchor') {
    throw new InvalidInputError('cursor is not a message of this conversation', {
      field: request.before ? 'before' : 'after',
    });
  }
  const items = rows.filter((r) => r.id !== null).map(toMessage);
  const hasMore = head.fetched > items.length;
  const edge = forward ? items[items.length - 1] : items[0];
  return { items, nextCursor: hasMore && edge ? edge.id : null };
}

type SendOutcome = 'created' | 'existing' | 'not_found' | 'closed' | 'rate_limited';

/**
 * Sends a message (the function `messages_send`, one statement): membership, an earlier message
 * with this clientMessageId (returned, consuming nothing), the conversation being active, the
 * rate limit, then the message, the conversation's counter and the sender's read mark. Every
 * check runs after the conversation's lock, so concurrent retries, closes and leaves are seen.
 */
export async function sendMessage(
  d: Domain,
  caller: Caller,
  conversationId: string,
  input: SendMessageInput,
): Promise<SendResult & Audience> {
  const content = normaliseContent(input.content);
  const { sendLimit, sendWindowSeconds } = d.limits;
  const { rows } = await sql<{
    outcome: SendOutcome;
    retry_after: number | null;
    message: MessageRow | null;
    audience: string[] | null;
  }>`/* messages.send */
    SELECT outcome, retry_after, message, to_json(audience) AS audience FROM messages_send(
      ${uuid(conversationId)}, ${uuid(caller.userId)}, ${text(content)}, ${text(input.clientMessageId)},
      ${sql.lit(sendLimit)}, ${windowOf(sendWindowSeconds)})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'created':
    case 'existing':
      return { message: toMessage(row.message!), created: row.outcome === 'created', audience: row.audience ?? [] };
    case 'not_found':
      throw new NotFoundError('conversation');
    case 'closed':
      throw new ConflictError('conversation_closed', 'The conversation is closed and accepts no new messages');
    case 'rate_limited':
      throw new RateLimitedError(retryAfter(row.retry_after, sendWindowSeconds), 'messages');
  }
}
