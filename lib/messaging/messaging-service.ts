import { sql, type Kysely, type RawBuilder } from 'kysely';
import { text, timestamptz, uuid } from '../db/casts';
import type { Database, ParticipantRole } from '../db/schema';
import { normaliseContent } from './content';
import { decodeActivityCursor, encodeActivityCursor } from './cursor';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  UnknownUsersError,
} from './errors';
import { toIso, toIsoOrNull } from './time';
import type {
  AdminConversationFilters,
  Caller,
  Conversation,
  ConversationFilters,
  CreateConversationInput,
  Message,
  MessagePageRequest,
  Page,
  PageRequest,
  Participant,
  ReadMark,
  SendMessageInput,
  SendResult,
  UnreadTotal,
} from './types';

export interface MessagingLimits {
  /** Messages one user may send in any window of `sendWindowSeconds`. */
  sendLimit: number;
  sendWindowSeconds: number;
}

export const defaultLimits: MessagingLimits = { sendLimit: 20, sendWindowSeconds: 10 };

export const MAX_PARTICIPANTS = 50;
export const LAST_MESSAGE_PREVIEW_CODE_POINTS = 200;
/**
 * A message page stops early once its content, JSON-escaped, passes this many bytes, and its
 * cursor continues from there: the Data API refuses any response over 1 MiB, and 100 messages of
 * 10,000 four-byte code points would be 4 MB.
 */
export const MESSAGE_PAGE_BYTE_BUDGET = 256 * 1024;


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

interface MessageRow {
  id: string;
  conversation_id: string;
  sender_id: string | null;
  kind: Message['kind'];
  content: string;
  client_message_id: string | null;
  read_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

interface ConversationRow {
  id: string;
  type: Conversation['type'];
  subject: string | null;
  order_id: string | null;
  status: Conversation['status'];
  created_at: Date | string;
  updated_at: Date | string;
  participants: Array<Record<string, unknown>> | null;
  /** A message row as JSON (timestamps as strings). */
  last_message: MessageRow | null;
  unread_count: number | null;
  activity_at: Date | string;
}

/**
 * The messaging domain: every rule of the seed plan, each operation one SQL statement.
 * Access is decided here, not in HTTP: a non-participant gets the same NotFoundError as for a
 * conversation that does not exist; admins read everything but write only where they take part.
 */
export class MessagingService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly limits: MessagingLimits = defaultLimits,
  ) {}

  /** Records a user the first time they are seen, and keeps their role current. */
  async recordUser(userId: string, role: ParticipantRole): Promise<void> {
    await sql`
      INSERT INTO users (id, role) VALUES (${uuid(userId)}, ${role})
      ON CONFLICT (id) DO UPDATE SET role = excluded.role WHERE users.role IS DISTINCT FROM excluded.role
    `.execute(this.db);
  }

  async createConversation(caller: Caller, input: CreateConversationInput): Promise<Conversation> {
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
    const { rows } = await sql<{
      missing: string[] | null;
      order_visible: boolean;
      existing_order_conversation: string | null;
      created: ConversationRow | null;
    }>`
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
      conv AS (
        INSERT INTO conversations (type, subject, order_id, created_by)
        SELECT ${input.type}, ${text(subject)}, ${uuid(orderId)}, ${uuid(caller.userId)}
        WHERE NOT EXISTS (SELECT 1 FROM missing)
          AND (${uuid(orderId)} IS NULL OR EXISTS (SELECT 1 FROM ord))
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
        EXISTS (SELECT 1 FROM ord) AS order_visible,
        (SELECT c.id FROM conversations c WHERE c.order_id = ${uuid(orderId)} AND c.type = 'order') AS existing_order_conversation,
        (SELECT json_build_object(
           'id', c.id, 'type', c.type, 'subject', c.subject, 'order_id', c.order_id, 'status', c.status,
           'created_at', c.created_at, 'updated_at', c.updated_at, 'activity_at', c.updated_at,
           'last_message', NULL, 'unread_count', 0,
           'participants', (SELECT json_agg(json_build_object(
               'userId', p.user_id, 'role', p.role, 'joinedAt', p.joined_at, 'lastReadAt', p.last_read_at)
             ORDER BY p.user_id) FROM parts p))
         FROM conv c) AS created
    `.execute(this.db);
    const row = rows[0]!;
    if (row.missing?.length) throw new UnknownUsersError(row.missing);
    if (orderId && !row.order_visible) throw new NotFoundError('order');
    if (!row.created) {
      throw new ConflictError('order_conversation_exists', 'This order already has its conversation', {
        conversationId: row.existing_order_conversation,
      });
    }
    return toConversation(row.created);
  }

  async getUserConversations(
    caller: Caller,
    filters: ConversationFilters,
    page: PageRequest,
  ): Promise<Page<Conversation>> {
    const cursor = page.cursor ? decodeActivityCursor(page.cursor) : undefined;
    const { rows } = await sql<ConversationRow>`
      SELECT ${conversationColumns(sql`me`)}, me.activity_at
      FROM conversation_participants me
      JOIN conversations c ON c.id = me.conversation_id
      WHERE me.user_id = ${uuid(caller.userId)}
        ${filters.type ? sql`AND c.type = ${filters.type}` : sql``}
        ${filters.status ? sql`AND c.status = ${filters.status}` : sql``}
        ${filters.orderId ? sql`AND c.order_id = ${uuid(filters.orderId)}` : sql``}
        ${filters.updatedSince ? sql`AND me.activity_at > ${timestamptz(filters.updatedSince)}` : sql``}
        ${
          cursor
            ? sql`AND (me.activity_at, me.conversation_id) < (${timestamptz(cursor.activityAt)}, ${uuid(cursor.id)})`
            : sql``
        }
      ORDER BY me.activity_at DESC, me.conversation_id DESC
      LIMIT ${page.limit + 1} OFFSET ${page.offset}
    `.execute(this.db);
    return toConversationPage(rows, page.limit);
  }

  async listAllConversations(
    caller: Caller,
    filters: AdminConversationFilters,
    page: PageRequest,
  ): Promise<Page<Conversation>> {
    requireAdmin(caller);
    const cursor = page.cursor ? decodeActivityCursor(page.cursor) : undefined;
    const { rows } = await sql<ConversationRow>`
      SELECT ${conversationColumns(sql`me`)}, c.updated_at AS activity_at
      FROM conversations c
      LEFT JOIN conversation_participants me ON me.conversation_id = c.id AND me.user_id = ${uuid(caller.userId)}
      WHERE true
        ${filters.type ? sql`AND c.type = ${filters.type}` : sql``}
        ${filters.status ? sql`AND c.status = ${filters.status}` : sql``}
        ${filters.orderId ? sql`AND c.order_id = ${uuid(filters.orderId)}` : sql``}
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
    `.execute(this.db);
    return toConversationPage(rows, page.limit);
  }

  /** A conversation with its participants; participants only, or any admin. */
  async getConversationById(caller: Caller, conversationId: string): Promise<Conversation> {
    const { rows } = await sql<ConversationRow>`
      SELECT ${conversationColumns(sql`me`)}, c.updated_at AS activity_at
      FROM conversations c
      LEFT JOIN conversation_participants me ON me.conversation_id = c.id AND me.user_id = ${uuid(caller.userId)}
      WHERE c.id = ${uuid(conversationId)} AND (me.user_id IS NOT NULL OR ${caller.isAdmin})
    `.execute(this.db);
    if (!rows[0]) throw new NotFoundError('conversation');
    return toConversation(rows[0]);
  }

  /**
   * A page of messages, always returned oldest first.
   * - no cursor: the newest `limit` messages (after skipping `offset` newest ones);
   * - `before`: the `limit` messages just older than that message; nextCursor pages further back;
   * - `after`: the `limit` messages just newer than that message; nextCursor is set while more
   *   newer messages exist. A poller passes the newest id it holds and gets only what is new.
   * Order is the conversation's `seq`, assigned under the conversation's lock, so commit order
   * equals seq order and `after` never skips a late commit.
   */
  async getConversationMessages(
    caller: Caller,
    conversationId: string,
    request: MessagePageRequest,
  ): Promise<Page<Message>> {
    if (request.before && request.after) {
      throw new InvalidInputError('use either before or after, not both', { field: 'before' });
    }
    const anchorId = request.before ?? request.after ?? null;
    const forward = Boolean(request.after);
    const direction = forward ? sql`ASC` : sql`DESC`;
    const { rows } = await sql<
      MessageRow & { visible: number; anchor_found: number; fetched: number; seq: string | null }
    >`
      WITH access AS (
        SELECT c.id FROM conversations c
        WHERE c.id = ${uuid(conversationId)}
          AND (${caller.isAdmin} OR EXISTS (
            SELECT 1 FROM conversation_participants p WHERE p.conversation_id = c.id AND p.user_id = ${uuid(caller.userId)}))
      ),
      anchor AS (
        SELECT m.seq FROM messages m
        WHERE m.id = ${uuid(anchorId)} AND m.conversation_id = ${uuid(conversationId)} AND EXISTS (SELECT 1 FROM access)
      ),
      -- The conversation id is given as a value, not joined from \`access\`, so that the planner
      -- walks messages_in_order from the cursor and stops after limit + 1 rows.
      page AS (
        SELECT m.* FROM messages m
        WHERE m.conversation_id = ${uuid(conversationId)} AND EXISTS (SELECT 1 FROM access)
          ${request.before ? sql`AND m.seq < (SELECT seq FROM anchor)` : sql``}
          ${request.after ? sql`AND m.seq > (SELECT seq FROM anchor)` : sql``}
        ORDER BY m.seq ${direction}
        LIMIT ${request.limit + 1} OFFSET ${request.offset}
      ),
      ranked AS (
        SELECT page.*,
               row_number() OVER w AS position,
               sum(octet_length(to_json(page.content)::text)) OVER w AS running_bytes
        FROM page WINDOW w AS (ORDER BY page.seq ${direction} ROWS UNBOUNDED PRECEDING)
      )
      SELECT (SELECT count(*) FROM access)::int AS visible,
             (SELECT count(*) FROM anchor)::int AS anchor_found,
             (SELECT count(*) FROM page)::int AS fetched,
             r.id, r.conversation_id, r.sender_id, r.kind, r.content, r.client_message_id,
             r.read_at, r.created_at, r.updated_at, r.seq::text AS seq
      FROM (SELECT 1) AS one
      LEFT JOIN ranked r ON r.position <= ${request.limit}
                        AND (r.position = 1 OR r.running_bytes <= ${sql.lit(MESSAGE_PAGE_BYTE_BUDGET)})
      ORDER BY r.seq ASC
    `.execute(this.db);
    const head = rows[0]!;
    if (!head.visible) throw new NotFoundError('conversation');
    if (anchorId && !head.anchor_found) {
      throw new InvalidInputError('cursor is not a message of this conversation', {
        field: request.before ? 'before' : 'after',
      });
    }
    const items = rows.filter((r) => r.id !== null).map(toMessage);
    const hasMore = head.fetched > items.length;
    const edge = forward ? items[items.length - 1] : items[0];
    return { items, nextCursor: hasMore && edge ? edge.id : null };
  }

  /**
   * Sends a message: membership, the conversation being active, the rate limit and the
   * clientMessageId retry check, the insert, the conversation's activity and the sender's read
   * mark, in one statement. The rate limit is a sliding window kept in `send_rate` and taken
   * with `INSERT … ON CONFLICT DO UPDATE … WHERE`, which sees the latest row under its lock, so
   * concurrent sends cannot slip past it; a refused send stores nothing.
   */
  async sendMessage(caller: Caller, conversationId: string, input: SendMessageInput): Promise<SendResult> {
    const content = normaliseContent(input.content);
    const clientMessageId = input.clientMessageId ?? null;
    const { sendLimit, sendWindowSeconds } = this.limits;
    const window = sql`make_interval(secs => ${sendWindowSeconds})`;
    const { rows } = await sql<
      MessageRow & { is_member: boolean; status: string | null; got_slot: boolean; retry_after: number | null; created: boolean | null }
    >`
      WITH member AS (
        SELECT c.id, c.status FROM conversations c
        JOIN conversation_participants p ON p.conversation_id = c.id AND p.user_id = ${uuid(caller.userId)}
        WHERE c.id = ${uuid(conversationId)}
      ),
      existing AS (
        SELECT m.* FROM messages m
        WHERE m.conversation_id = ${uuid(conversationId)} AND m.sender_id = ${uuid(caller.userId)}
          AND m.client_message_id = ${text(clientMessageId)}
      ),
      slot AS (
        INSERT INTO send_rate AS r (user_id, recent)
        SELECT ${uuid(caller.userId)}, ARRAY[now()]::timestamptz(3)[] FROM member
        WHERE member.status = 'active' AND NOT EXISTS (SELECT 1 FROM existing)
        ON CONFLICT (user_id) DO UPDATE
          SET recent = array(SELECT t FROM unnest(r.recent) AS t WHERE t > now() - ${window}) || now()::timestamptz(3)
          WHERE (SELECT count(*) FROM unnest(r.recent) AS t WHERE t > now() - ${window}) < ${sendLimit}
        RETURNING r.user_id
      ),
      bump AS (
        UPDATE conversations c SET last_message_seq = c.last_message_seq + 1
        FROM slot WHERE c.id = ${uuid(conversationId)} AND c.status = 'active'
        RETURNING c.id, c.last_message_seq
      ),
      inserted AS (
        INSERT INTO messages (conversation_id, seq, sender_id, kind, content, client_message_id)
        SELECT bump.id, bump.last_message_seq, ${uuid(caller.userId)}, 'user', ${text(content)}, ${text(clientMessageId)}
        FROM bump
        ON CONFLICT (conversation_id, sender_id, client_message_id) DO NOTHING
        RETURNING *
      ),
      -- Sending reads the conversation up to one's own message; nothing newer can exist while this
      -- statement holds the conversation's lock, so the sender has nothing unread.
      mark AS (
        UPDATE conversation_participants p
           SET last_read_seq = greatest(p.last_read_seq, i.seq), last_read_at = now(), unread_count = 0
        FROM inserted i WHERE p.conversation_id = i.conversation_id AND p.user_id = i.sender_id
      ),
      outcome AS (
        SELECT i.*, true AS created FROM inserted i
        UNION ALL SELECT e.*, false AS created FROM existing e
      )
      SELECT EXISTS (SELECT 1 FROM member) AS is_member,
             (SELECT status FROM member) AS status,
             EXISTS (SELECT 1 FROM slot) AS got_slot,
             -- The Retry-After hint, only computed when the limiter refused.
             CASE WHEN NOT EXISTS (SELECT 1 FROM slot) THEN (
               SELECT ceil(extract(epoch FROM min(t) + ${window} - now()))::int
                 FROM send_rate r, unnest(r.recent) AS t
                WHERE r.user_id = ${uuid(caller.userId)} AND t > now() - ${window}) END AS retry_after,
             o.id, o.conversation_id, o.sender_id, o.kind, o.content, o.client_message_id,
             o.read_at, o.created_at, o.updated_at, o.created
      FROM (SELECT 1) AS one LEFT JOIN outcome o ON true
      LIMIT 1
    `.execute(this.db);
    const row = rows[0]!;
    if (!row.is_member) throw new NotFoundError('conversation');
    if (row.id) return { message: toMessage(row), created: row.created === true };
    if (row.status !== 'active') {
      throw new ConflictError('conversation_closed', 'The conversation is closed and accepts no new messages');
    }
    if (!row.got_slot) {
      throw new RateLimitedError(Math.max(1, Math.min(sendWindowSeconds, row.retry_after ?? sendWindowSeconds)));
    }
    // A concurrent request with the same clientMessageId stored it first: return that one.
    // This is the only path that costs a second statement, and only in that race.
    const stored = await this.findByClientMessageId(caller.userId, conversationId, clientMessageId);
    if (!stored) throw new Error('send stored nothing and found no earlier message');
    return { message: stored, created: false };
  }

  private async findByClientMessageId(
    senderId: string,
    conversationId: string,
    clientMessageId: string | null,
  ): Promise<Message | undefined> {
    const { rows } = await sql<MessageRow>`
      SELECT m.* FROM messages m
      WHERE m.conversation_id = ${uuid(conversationId)} AND m.sender_id = ${uuid(senderId)}
        AND m.client_message_id = ${text(clientMessageId)}
    `.execute(this.db);
    return rows[0] ? toMessage(rows[0]) : undefined;
  }

  /**
   * Moves the caller's read mark forward to this message (never back), and stamps `read_at` on
   * the messages it passes that others sent and nobody had read yet.
   */
  async markMessageAsRead(caller: Caller, messageId: string): Promise<Message> {
    const { rows } = await sql<MessageRow>`
      WITH target AS (
        SELECT m.id, m.conversation_id, m.seq, p.last_read_seq AS old_seq
        FROM messages m
        JOIN conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = ${uuid(caller.userId)}
        WHERE m.id = ${uuid(messageId)}
      ),
      mark AS (
        UPDATE conversation_participants p
           SET last_read_seq = t.seq, last_read_at = now(), unread_count = p.unread_count - ${unreadBetween(sql`p`, sql`t`)}
        FROM target t
        WHERE p.conversation_id = t.conversation_id AND p.user_id = ${uuid(caller.userId)} AND p.last_read_seq < t.seq
      ),
      stamped AS (
        UPDATE messages m SET read_at = now()
        FROM (${firstReads(sql`target`, caller.userId)}) AS f
        WHERE m.id = f.id
        RETURNING m.id, m.read_at
      )
      SELECT m.id, m.conversation_id, m.sender_id, m.kind, m.content, m.client_message_id,
             coalesce(s.read_at, m.read_at) AS read_at, m.created_at, m.updated_at
      FROM target t JOIN messages m ON m.id = t.id LEFT JOIN stamped s ON s.id = m.id
    `.execute(this.db);
    if (!rows[0]) throw new NotFoundError('message');
    return toMessage(rows[0]);
  }

  async markConversationAsRead(caller: Caller, conversationId: string): Promise<ReadMark> {
    const { rows } = await sql<{ conversation_id: string; last_read_at: Date | string | null }>`
      WITH target AS (
        SELECT p.conversation_id, p.last_read_seq AS old_seq, p.last_read_at, c.last_message_seq AS seq
        FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
        WHERE p.conversation_id = ${uuid(conversationId)} AND p.user_id = ${uuid(caller.userId)}
      ),
      mark AS (
        UPDATE conversation_participants p
           SET last_read_seq = t.seq, last_read_at = now(), unread_count = p.unread_count - ${unreadBetween(sql`p`, sql`t`)}
        FROM target t
        WHERE p.conversation_id = t.conversation_id AND p.user_id = ${uuid(caller.userId)} AND p.last_read_seq < t.seq
        RETURNING p.last_read_at
      ),
      stamped AS (
        UPDATE messages m SET read_at = now()
        FROM (${firstReads(sql`target`, caller.userId)}) AS f
        WHERE m.id = f.id
      )
      SELECT t.conversation_id, coalesce((SELECT last_read_at FROM mark), t.last_read_at) AS last_read_at
      FROM target t
    `.execute(this.db);
    if (!rows[0]) throw new NotFoundError('conversation');
    return { conversationId: rows[0].conversation_id, lastReadAt: toIsoOrNull(rows[0].last_read_at), unreadCount: 0 };
  }

  /**
   * Adds a user. Any participant may add to a conversation they are in; admins to any.
   * Adding someone already there is not an error (`added: false`), so concurrent adds are safe.
   */
  async addParticipant(
    caller: Caller,
    conversationId: string,
    userId: string,
  ): Promise<{ participant: Participant; added: boolean }> {
    const { rows } = await sql<{
      visible: boolean;
      user_known: boolean;
      full: boolean;
      added: Record<string, unknown> | null;
      present: Record<string, unknown> | null;
    }>`
      -- Lock order everywhere: the conversation row, then participant rows (as sends do). Holding
      -- it also makes the joiner's unread count (a trigger at the end) exact against concurrent sends.
      WITH locked AS (
        SELECT c.id FROM conversations c
        WHERE c.id = ${uuid(conversationId)}
          AND (${caller.isAdmin} OR EXISTS (
            SELECT 1 FROM conversation_participants p WHERE p.conversation_id = c.id AND p.user_id = ${uuid(caller.userId)}))
        FOR UPDATE OF c
      ),
      conv AS (
        SELECT l.id, (SELECT count(*) FROM conversation_participants x WHERE x.conversation_id = l.id) AS size FROM locked l
      ),
      target AS (SELECT u.id, u.role FROM users u WHERE u.id = ${uuid(userId)}),
      ins AS (
        INSERT INTO conversation_participants (conversation_id, user_id, role)
        SELECT conv.id, target.id, target.role FROM conv, target WHERE conv.size < ${sql.lit(MAX_PARTICIPANTS)}
        ON CONFLICT (conversation_id, user_id) DO NOTHING
        RETURNING *
      ),
      touch AS (UPDATE conversations c SET updated_at = now() FROM ins WHERE c.id = ins.conversation_id)
      SELECT EXISTS (SELECT 1 FROM conv) AS visible,
             EXISTS (SELECT 1 FROM target) AS user_known,
             coalesce((SELECT size >= ${sql.lit(MAX_PARTICIPANTS)} FROM conv), false) AS full,
             (SELECT json_build_object('userId', i.user_id, 'role', i.role, 'joinedAt', i.joined_at, 'lastReadAt', i.last_read_at) FROM ins i) AS added,
             (SELECT json_build_object('userId', p.user_id, 'role', p.role, 'joinedAt', p.joined_at, 'lastReadAt', p.last_read_at)
                FROM conversation_participants p JOIN conv ON conv.id = p.conversation_id
               WHERE p.user_id = ${uuid(userId)}) AS present
    `.execute(this.db);
    const row = rows[0]!;
    if (!row.visible) throw new NotFoundError('conversation');
    if (!row.user_known) throw new UnknownUsersError([userId]);
    if (row.added) return { participant: toParticipant(row.added), added: true };
    if (row.present) return { participant: toParticipant(row.present), added: false };
    if (row.full) {
      throw new ConflictError('conversation_full', `A conversation has at most ${MAX_PARTICIPANTS} participants`);
    }
    // A concurrent request added them after this statement's snapshot: read the stored row (the
    // only path that costs a second statement, and only in that race).
    const { rows: stored } = await sql<Record<string, unknown>>`
      SELECT json_build_object('userId', p.user_id, 'role', p.role, 'joinedAt', p.joined_at, 'lastReadAt', p.last_read_at) AS participant
      FROM conversation_participants p
      WHERE p.conversation_id = ${uuid(conversationId)} AND p.user_id = ${uuid(userId)}
    `.execute(this.db);
    if (!stored[0]) throw new Error('participant neither added nor found');
    return { participant: toParticipant(stored[0].participant as Record<string, unknown>), added: false };
  }

  /** Removes a participant: anyone may leave; only admins remove others. The removed user loses access at once. */
  async removeParticipant(caller: Caller, conversationId: string, userId: string): Promise<void> {
    if (userId !== caller.userId && !caller.isAdmin) {
      // Check visibility first so a non-participant still sees only "not found".
      await this.getConversationById(caller, conversationId);
      throw new ForbiddenError('Only admins remove other participants; anyone may remove themselves');
    }
    const { rows } = await sql<{ visible: boolean; removed: boolean }>`
      -- Lock order everywhere: the conversation row, then participant rows (as sends do).
      WITH conv AS (
        SELECT c.id FROM conversations c
        WHERE c.id = ${uuid(conversationId)}
          AND (${caller.isAdmin} OR EXISTS (
            SELECT 1 FROM conversation_participants p WHERE p.conversation_id = c.id AND p.user_id = ${uuid(caller.userId)}))
        FOR UPDATE OF c
      ),
      del AS (
        DELETE FROM conversation_participants p USING conv
        WHERE p.conversation_id = conv.id AND p.user_id = ${uuid(userId)}
        RETURNING p.conversation_id
      ),
      touch AS (UPDATE conversations c SET updated_at = now() FROM del WHERE c.id = del.conversation_id)
      SELECT EXISTS (SELECT 1 FROM conv) AS visible, EXISTS (SELECT 1 FROM del) AS removed
    `.execute(this.db);
    const row = rows[0]!;
    if (!row.visible) throw new NotFoundError('conversation');
    if (!row.removed) throw new NotFoundError('participant');
  }

  /** Admins open or close any conversation; a closed one accepts no new messages. */
  async setConversationStatus(caller: Caller, conversationId: string, status: Conversation['status']): Promise<Conversation> {
    requireAdmin(caller);
    const { rows } = await sql<ConversationRow>`
      WITH changed AS (
        UPDATE conversations SET status = ${status}
        WHERE id = ${uuid(conversationId)} AND status <> ${status}
        RETURNING *
      ),
      c AS (
        SELECT ch.* FROM changed ch
        UNION ALL SELECT x.* FROM conversations x WHERE x.id = ${uuid(conversationId)} AND NOT EXISTS (SELECT 1 FROM changed)
      )
      SELECT ${conversationColumns(sql`me`)}, c.updated_at AS activity_at
      FROM c LEFT JOIN conversation_participants me ON me.conversation_id = c.id AND me.user_id = ${uuid(caller.userId)}
    `.execute(this.db);
    if (!rows[0]) throw new NotFoundError('conversation');
    return toConversation(rows[0]);
  }

  /** The caller's unread messages across all their conversations: a sum of the kept counts. */
  async getUnreadTotal(caller: Caller): Promise<UnreadTotal> {
    const { rows } = await sql<{ unread: number; conversations: number }>`
      SELECT coalesce(sum(p.unread_count), 0)::int AS unread, count(*) FILTER (WHERE p.unread_count > 0)::int AS conversations
      FROM conversation_participants p
      WHERE p.user_id = ${uuid(caller.userId)}
    `.execute(this.db);
    return { unreadCount: rows[0]?.unread ?? 0, conversationCount: rows[0]?.conversations ?? 0 };
  }
}

function requireAdmin(caller: Caller): void {
  if (!caller.isAdmin) throw new ForbiddenError('This needs the admin group');
}

/**
 * The columns of a conversation as the API shows it, given the alias of the caller's own
 * participant row (`me`, null when an admin looks at a conversation they are not in).
 */
function conversationColumns(me: RawBuilder<unknown>) {
  return sql`
    c.id, c.type, c.subject, c.order_id, c.status, c.created_at, c.updated_at,
    (SELECT json_agg(json_build_object(
        'userId', p.user_id, 'role', p.role, 'joinedAt', p.joined_at, 'lastReadAt', p.last_read_at)
      ORDER BY p.joined_at, p.user_id)
     FROM conversation_participants p WHERE p.conversation_id = c.id) AS participants,
    (SELECT json_build_object(
        'id', m.id, 'conversation_id', m.conversation_id, 'sender_id', m.sender_id, 'kind', m.kind,
        'content', left(m.content, ${sql.lit(LAST_MESSAGE_PREVIEW_CODE_POINTS)}), 'client_message_id', m.client_message_id,
        'read_at', m.read_at, 'created_at', m.created_at, 'updated_at', m.updated_at)
     FROM messages m WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1) AS last_message,
    ${me}.unread_count AS unread_count`;
}

function toConversationPage(rows: ConversationRow[], limit: number): Page<Conversation> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(toConversation),
    nextCursor:
      rows.length > limit && last ? encodeActivityCursor({ activityAt: toIso(last.activity_at), id: last.id }) : null,
  };
}

function toConversation(row: ConversationRow): Conversation {
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

function toParticipant(json: Record<string, unknown>): Participant {
  return {
    userId: String(json.userId),
    role: json.role as ParticipantRole,
    joinedAt: toIso(json.joinedAt as string),
    lastReadAt: toIsoOrNull(json.lastReadAt as string | null),
  };
}

function toMessage(row: MessageRow): Message {
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
