import { type RawBuilder, sql } from 'kysely';
import { text, timestamptz, uuid } from '../db/casts';
import { frame } from '../realtime/frames';
import { decodeActivityCursor } from './cursor';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  UnknownUsersError,
} from './errors';
import { LAST_MESSAGE_PREVIEW_CODE_POINTS, MAX_PARTICIPANTS } from './limits';
import type { ProjectionOutcome } from './order-projection';
import { push } from './push';
import { type ConversationRow, type MessageRow, toConversation, toConversationPage, toMessage } from './rows';
import {
  type Audience,
  audienceOf,
  audienceWith,
  connectionsOf,
  type Domain,
  messageJson,
  participantsJson,
  retryAfter,
  windowOf,
} from './sql';
import type {
  AdminConversationFilters,
  Caller,
  Conversation,
  ConversationFilters,
  CreateConversationInput,
  Message,
  Page,
  PageRequest,
  ParticipantRole,
} from './types';

/**
 * Conversations: creating, listing (the caller's inbox and the admin view), reading one, and
 * closing or reopening. Each operation is one statement.
 */

/**
 * The columns of a conversation as the API shows it, given the alias of the caller's own
 * participant row (`me`, null when an admin looks at a conversation they are not in).
 */
function conversationColumns(me: RawBuilder<unknown>) {
  return sql`
    c.id, c.type, c.subject, c.order_id, c.status, c.created_at, c.updated_at, c.revision,
    ${participantsJson(sql`conversation_participants`, sql`c.id`)} AS participants,
    (SELECT ${messageJson('m', LAST_MESSAGE_PREVIEW_CODE_POINTS)}
       FROM messages m WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1) AS last_message,
    ${me}.unread_count AS unread_count, ${me}.muted AS muted`;
}

/** The filters both listings share. */
function filtersOf(filters: ConversationFilters) {
  return sql`
    ${filters.type ? sql`AND c.type = ${filters.type}` : sql``}
    ${filters.status ? sql`AND c.status = ${filters.status}` : sql``}
    ${filters.orderId ? sql`AND c.order_id = ${uuid(filters.orderId)}` : sql``}`;
}

function requireAdmin(caller: Caller): void {
  if (!caller.isAdmin) throw new ForbiddenError('This needs the admin group');
}

export async function createConversation(
  d: Domain,
  caller: Caller,
  input: CreateConversationInput,
): Promise<Conversation> {
  const subject = input.subject?.trim() || null;
  const orderId = input.orderId ?? null;
  if (input.type === 'order' && !orderId) {
    throw new InvalidInputError('an order conversation needs an orderId', { field: 'orderId' });
  }
  const participantIds = [...new Set(input.participantIds.filter((id) => id !== caller.userId))];
  if (participantIds.length + 1 > MAX_PARTICIPANTS) {
    throw new InvalidInputError(`a conversation has at most ${MAX_PARTICIPANTS} participants`, {
      field: 'participantIds',
    });
  }
  const { createConversationLimit, createConversationWindowSeconds } = d.limits;
  const { rows } = await sql<{
    missing: string[] | null;
    retry_after: number | null;
    order_visible: boolean;
    existing_order_conversation: string | null;
    created: ConversationRow | null;
    audience: string[];
  }>`/* conversations.create */
    WITH requested AS (
      SELECT DISTINCT cast(value AS uuid) AS user_id
      FROM jsonb_array_elements_text(cast(${JSON.stringify(participantIds)} AS jsonb))
    ),
    missing AS (
      SELECT r.user_id FROM requested r WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id)
    ),
    ord AS (
      SELECT o.id, o.owner_id, o.service_provider_id FROM orders o
      WHERE o.id = ${uuid(orderId)} AND o.deleted_at IS NULL
        AND (${caller.isAdmin} OR ${uuid(caller.userId)} IN (o.owner_id, o.service_provider_id))
    ),
    -- The creator's rate limit, taken only by a request that is otherwise valid.
    slot AS (
      SELECT take_rate_slot(${uuid(caller.userId)}, 'create_conversation',
                            ${sql.lit(createConversationLimit)}, ${windowOf(createConversationWindowSeconds)}) AS retry_after
      WHERE NOT EXISTS (SELECT 1 FROM missing)
        AND (${uuid(orderId)} IS NULL OR EXISTS (SELECT 1 FROM ord))
        AND NOT EXISTS (SELECT 1 FROM conversations x
                         WHERE ${input.type} = 'order' AND x.order_id = ${uuid(orderId)} AND x.type = 'order')
    ),
    conv AS (
      INSERT INTO conversations (type, subject, order_id, created_by)
      SELECT ${input.type}, ${text(subject)}, ${uuid(orderId)}, ${uuid(caller.userId)}
      FROM slot WHERE slot.retry_after IS NULL
      ON CONFLICT (order_id) WHERE type = 'order' DO NOTHING
      RETURNING *
    ),
    members AS (
      SELECT user_id FROM requested
      UNION SELECT ${uuid(caller.userId)}
      -- An order conversation always includes the order's owner and provider.
      UNION SELECT owner_id FROM ord WHERE ${input.type} = 'order' AND owner_id IS NOT NULL
      UNION SELECT service_provider_id FROM ord WHERE ${input.type} = 'order' AND service_provider_id IS NOT NULL
    ),
    parts AS (
      INSERT INTO conversation_participants (conversation_id, user_id, role)
      SELECT conv.id, u.id,
             CASE WHEN ${input.type} = 'order' AND u.id = (SELECT service_provider_id FROM ord) THEN 'service_provider'
                  WHEN ${input.type} = 'order' AND u.id = (SELECT owner_id FROM ord) THEN 'user'
                  ELSE u.role END
      FROM conv CROSS JOIN members m JOIN users u ON u.id = m.user_id
      RETURNING *
    )
    SELECT
      (SELECT jsonb_agg(user_id ORDER BY user_id) FROM missing) AS missing,
      (SELECT retry_after FROM slot) AS retry_after,
      EXISTS (SELECT 1 FROM ord) AS order_visible,
      (SELECT c.id FROM conversations c WHERE c.order_id = ${uuid(orderId)} AND c.type = 'order') AS existing_order_conversation,
      (SELECT json_build_object(
         'id', c.id, 'type', c.type, 'subject', c.subject, 'order_id', c.order_id, 'status', c.status,
         'created_at', c.created_at, 'updated_at', c.updated_at, 'activity_at', c.updated_at, 'revision', c.revision,
         'last_message', NULL, 'unread_count', 0, 'muted', false,
         'participants', ${participantsJson(sql`parts`, sql`c.id`)})
       FROM conv c) AS created,
      -- Nobody can race a conversation this statement creates: its own rows are the audience.
      ${connectionsOf(sql`parts`)} AS audience
  `.execute(d.db);
  const row = rows[0]!;
  if (row.missing?.length) throw new UnknownUsersError(row.missing);
  if (orderId && !row.order_visible) throw new NotFoundError('order');
  if (row.retry_after !== null) {
    throw new RateLimitedError(retryAfter(row.retry_after, createConversationWindowSeconds), 'new conversations');
  }
  if (!row.created) {
    throw new ConflictError('order_conversation_exists', 'This order already has its conversation', {
      conversationId: row.existing_order_conversation,
    });
  }
  const conversation = toConversation(row.created, caller.userId);
  await push(d, row.audience, frame('conversation.created', conversation));
  return conversation;
}

/** The caller's inbox: newest activity first, one index range over their participant rows. */
export async function listConversations(
  d: Domain,
  caller: Caller,
  filters: ConversationFilters,
  page: PageRequest,
): Promise<Page<Conversation>> {
  const cursor = page.cursor ? decodeActivityCursor(page.cursor) : undefined;
  const { rows } = await sql<ConversationRow>`/* conversations.list */
    SELECT ${conversationColumns(sql`me`)}, me.activity_at
    FROM conversation_participants me
    JOIN conversations c ON c.id = me.conversation_id
    WHERE me.user_id = ${uuid(caller.userId)}
      ${filtersOf(filters)}
      ${filters.updatedSince ? sql`AND me.activity_at > ${timestamptz(filters.updatedSince)}` : sql``}
      ${cursor ? sql`AND (me.activity_at, me.conversation_id) < (${timestamptz(cursor.activityAt)}, ${uuid(cursor.id)})` : sql``}
    ORDER BY me.activity_at DESC, me.conversation_id DESC
    LIMIT ${page.limit + 1} OFFSET ${page.offset}
  `.execute(d.db);
  return toConversationPage(rows, page.limit, caller.userId);
}

/** Every conversation, for admins: newest activity first. */
export async function adminListConversations(
  d: Domain,
  caller: Caller,
  filters: AdminConversationFilters,
  page: PageRequest,
): Promise<Page<Conversation>> {
  requireAdmin(caller);
  const cursor = page.cursor ? decodeActivityCursor(page.cursor) : undefined;
  const { rows } = await sql<ConversationRow>`/* conversations.admin_list */
    SELECT ${conversationColumns(sql`me`)}, c.updated_at AS activity_at
    FROM conversations c
    LEFT JOIN conversation_participants me ON me.conversation_id = c.id AND me.user_id = ${uuid(caller.userId)}
    WHERE true
      ${filtersOf(filters)}
      ${
        filters.participantId
          ? sql`AND EXISTS (SELECT 1 FROM conversation_participants f
                            WHERE f.conversation_id = c.id AND f.user_id = ${uuid(filters.participantId)})`
          : sql``
      }
      ${filters.updatedSince ? sql`AND c.updated_at > ${timestamptz(filters.updatedSince)}` : sql``}
      ${cursor ? sql`AND (c.updated_at, c.id) < (${timestamptz(cursor.activityAt)}, ${uuid(cursor.id)})` : sql``}
    ORDER BY c.updated_at DESC, c.id DESC
    LIMIT ${page.limit + 1} OFFSET ${page.offset}
  `.execute(d.db);
  return toConversationPage(rows, page.limit, caller.userId);
}

/** A conversation with its participants; participants only, or any admin. */
export async function getConversation(d: Domain, caller: Caller, conversationId: string): Promise<Conversation> {
  const { rows } = await sql<ConversationRow>`/* conversations.get */
    SELECT ${conversationColumns(sql`me`)}, c.updated_at AS activity_at
    FROM conversations c
    LEFT JOIN conversation_participants me ON me.conversation_id = c.id AND me.user_id = ${uuid(caller.userId)}
    WHERE c.id = ${uuid(conversationId)} AND (me.user_id IS NOT NULL OR ${caller.isAdmin})
  `.execute(d.db);
  if (!rows[0]) throw new NotFoundError('conversation');
  return toConversation(rows[0], caller.userId);
}

/** The same, for the admin route: admins only. */
export async function adminGetConversation(d: Domain, caller: Caller, conversationId: string): Promise<Conversation> {
  requireAdmin(caller);
  return getConversation(d, caller, conversationId);
}

/** Admins open or close any conversation; a closed one accepts no new messages. */
export async function adminSetConversationStatus(
  d: Domain,
  caller: Caller,
  conversationId: string,
  status: Conversation['status'],
): Promise<Conversation> {
  requireAdmin(caller);
  const { rows } = await sql<
    ConversationRow & { changed: boolean; audience: string[] | null }
  >`/* conversations.set_status */
    WITH changed AS (
      UPDATE conversations SET status = ${status}
      WHERE id = ${uuid(conversationId)} AND status <> ${status}
      RETURNING *
    ),
    c AS (
      SELECT ch.* FROM changed ch
      UNION ALL SELECT x.* FROM conversations x WHERE x.id = ${uuid(conversationId)} AND NOT EXISTS (SELECT 1 FROM changed)
    )
    SELECT ${conversationColumns(sql`me`)}, c.updated_at AS activity_at,
      EXISTS (SELECT 1 FROM changed) AS changed,
      -- The UPDATE holds the conversation's row lock: participant changes are all in or all out.
      (SELECT ${audienceOf(sql`ch.id`)} FROM changed ch) AS audience
    FROM c LEFT JOIN conversation_participants me ON me.conversation_id = c.id AND me.user_id = ${uuid(caller.userId)}
  `.execute(d.db);
  const row = rows[0];
  if (!row) throw new NotFoundError('conversation');
  const conversation = toConversation(row, caller.userId);
  if (row.changed) {
    const { id, updatedAt } = conversation;
    await push(d, row.audience ?? [], frame('conversation.updated', { id, status: conversation.status, updatedAt }));
  }
  return conversation;
}

/**
 * What an order event's push tells (one read, after the projection's statement): the
 * conversation as the API shows it (no caller, so no unread count), its newest message in full,
 * and the live connections of its participants.
 */
async function announcement(
  d: Domain,
  conversationId: string,
): Promise<{ conversation: Conversation | null; lastMessage: Message | null } & Audience> {
  const { rows } = await sql<
    ConversationRow & { newest: MessageRow | null; audience: string[] }
  >`/* conversations.announcement */
    SELECT ${conversationColumns(sql`me`)}, c.updated_at AS activity_at,
      (SELECT ${messageJson('m')} FROM messages m WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1) AS newest,
      ${audienceOf(sql`c.id`)} AS audience
    FROM conversations c LEFT JOIN conversation_participants me ON false
    WHERE c.id = ${uuid(conversationId)}
  `.execute(d.db);
  const row = rows[0];
  if (!row) return { conversation: null, lastMessage: null, audience: [] };
  return {
    conversation: toConversation(row, null),
    lastMessage: row.newest ? toMessage(row.newest, null) : null,
    audience: row.audience,
  };
}

/**
 * After an order event: `conversation.created` when it made the order's conversation (one read:
 * its participants arrive at the end of the projection's statement), `message.created` for the
 * status message it posted, and `conversation.updated` when that status closed or reopened the
 * conversation (both returned by the projection's own statement).
 */
export async function announceOrderChange(d: Domain, change: ProjectionOutcome): Promise<void> {
  if (change.created && change.conversationId) {
    const { conversation, lastMessage, audience } = await announcement(d, change.conversationId);
    if (!conversation) return;
    await push(d, audience, frame('conversation.created', conversation));
    if (change.posted && lastMessage) await push(d, audience, frame('message.created', lastMessage));
    return;
  }
  if (change.posted) {
    await push(d, change.posted.audience, frame('message.created', toMessage(change.posted.message, null)));
  }
  if (change.statusChanged) {
    await push(d, change.statusChanged.audience, frame('conversation.updated', change.statusChanged.conversation));
  }
  if (change.providerChanged) await announceProviderChange(d, change.providerChanged);
}

/**
 * A new provider: `participant.added` for the new one, to the participants (them included), and
 * `participant.removed` for the one replaced, to the participants and to them. One read, after the
 * projection's statement, whose trigger swapped the participants at its end: what it finds is what
 * the swap did (the replaced provider stays if they are also the owner; the new one keeps the row
 * they already had).
 */
async function announceProviderChange(
  d: Domain,
  change: NonNullable<ProjectionOutcome['providerChanged']>,
): Promise<void> {
  const conversation = uuid(change.conversationId);
  const { rows } = await sql<{
    current_role: ParticipantRole | null;
    previous_stays: boolean;
    audience: string[];
    audience_with_previous: string[] | null;
  }>`/* conversations.provider_announcement */
    SELECT (SELECT p.role FROM conversation_participants p
             WHERE p.conversation_id = ${conversation} AND p.user_id = ${uuid(change.current)}) AS current_role,
           EXISTS (SELECT 1 FROM conversation_participants p
                    WHERE p.conversation_id = ${conversation} AND p.user_id = ${uuid(change.previous)}) AS previous_stays,
           ${audienceOf(conversation)} AS audience,
           ${change.previous ? audienceWith(conversation, change.previous) : sql`NULL`} AS audience_with_previous
  `.execute(d.db);
  const row = rows[0];
  if (!row) return;
  const { conversationId, previous, current } = change;
  // The new provider first: they hear of their own joining before of anyone's leaving.
  if (row.current_role && !change.currentWasParticipant)
    await push(
      d,
      row.audience,
      frame('participant.added', { conversationId, userId: current, role: row.current_role }),
    );
  if (previous && !row.previous_stays)
    await push(d, row.audience_with_previous ?? [], frame('participant.removed', { conversationId, userId: previous }));
}
