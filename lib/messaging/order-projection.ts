import { type Kysely, sql } from 'kysely';
import { text, timestamptz, uuid } from '../db/casts';
import type { Database } from '../db/schema';
import { defaultClosingStatuses } from './limits';
import type { MessageRow } from './rows';
import { audienceOf } from './sql';
import { toIso } from './time';
import type { ConversationStatus } from './types';

export { defaultClosingStatuses };

/**
 * Turns the order service's events into order conversations and system messages.
 *
 * EventBridge delivers at least once, retries for up to 24 hours, keeps no order, and a
 * producer's retry comes with a new event id. So every method here:
 * - is idempotent by the order id (unique keys and `ON CONFLICT`), never by the event id;
 * - is one SQL statement, so concurrent duplicates serialise on the order's row;
 * - creates the order (and its conversation) as a shell on whichever event comes first;
 * - applies a status only if newer than the one applied (by `version`, else `changedAt`, else
 *   the event's time), and posts its system message only then: a stale or repeated status
 *   writes nothing;
 * - ignores everything about an order once OrderDeleted has been seen (a tombstone).
 */
export interface OrderCreated {
  orderId: string;
  userId: string;
  serviceProviderId?: string | null;
  title?: string | null;
  status?: string | null;
}

export interface OrderServiceProviderAssigned {
  orderId: string;
  serviceProviderId: string;
}

export interface OrderStatusChanged {
  orderId: string;
  status: string;
  previousStatus?: string | null;
  version?: number | null;
  changedAt?: string | null;
}

export interface OrderDeleted {
  orderId: string;
}

/** What happened, for logs, tests and the push that follows. */
export interface ProjectionOutcome {
  conversationId: string | null;
  applied: boolean;
  /** This event made the order's conversation (its participants hear `conversation.created`). */
  created: boolean;
  /** The status message this event posted (`message.created`) and who hears of it; null if none. */
  posted: { message: MessageRow; audience: string[] } | null;
  /**
   * The order's conversation this event closed or reopened (`conversation.updated`), with the same
   * audience as the status message; absent when its status stayed, or when the event created it.
   */
  statusChanged?: { conversation: { id: string; status: ConversationStatus; updatedAt: string }; audience: string[] };
  /**
   * The order's provider this event replaced (`previous`, null for a first one) and its new one,
   * for `participant.removed` and `participant.added`; absent when the provider stayed, or when
   * the event created the conversation (whose people `conversation.created` names).
   */
  providerChanged?: {
    conversationId: string;
    previous: string | null;
    current: string;
    currentWasParticipant: boolean;
  };
}

/**
 * In `INSERT … ON CONFLICT DO UPDATE … RETURNING`: true when the row was inserted, false when an
 * existing row was updated (an inserted row version has no deleting transaction yet).
 */
const inserted = sql`(xmax = 0) AS inserted`;

export function statusMessage(status: string): string {
  return `Order status changed to ${status}`;
}

export class OrderProjection {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly closingStatuses: string[] = defaultClosingStatuses,
  ) {}

  /** Records the order and its people, and makes sure its conversation exists with owner and provider. */
  async orderCreated(event: OrderCreated): Promise<ProjectionOutcome> {
    const subject = event.title?.trim() || event.orderId;
    const { rows } = await sql<{ conversation_id: string | null; created: boolean }>`/* orders.created */
      WITH people AS (
        INSERT INTO users (id, role)
        SELECT p.id, p.role FROM (VALUES (${uuid(event.userId)}, 'user'), (${uuid(event.serviceProviderId)}, 'service_provider')) AS p (id, role)
        WHERE p.id IS NOT NULL
        ON CONFLICT (id) DO NOTHING
      ),
      ord AS (
        INSERT INTO orders (id, owner_id, service_provider_id, title, status)
        VALUES (${uuid(event.orderId)}, ${uuid(event.userId)}, ${uuid(event.serviceProviderId)}, ${text(event.title)}, ${text(event.status)})
        ON CONFLICT (id) DO UPDATE SET
          owner_id = excluded.owner_id,
          -- A provider assigned by an event that overtook this one is newer than this one's.
          service_provider_id = coalesce(orders.service_provider_id, excluded.service_provider_id),
          title = coalesce(excluded.title, orders.title),
          status = coalesce(orders.status, excluded.status)
        WHERE orders.deleted_at IS NULL
        RETURNING id, owner_id, service_provider_id
      ),
      -- The participants follow from the orders row (trigger sync_order_participants).
      conv AS (
        INSERT INTO conversations (type, order_id, subject)
        SELECT 'order', ord.id, ${text(subject)} FROM ord
        ON CONFLICT (order_id) WHERE type = 'order'
          DO UPDATE SET subject = excluded.subject
        RETURNING id, ${inserted}
      )
      SELECT (SELECT id FROM conv) AS conversation_id, coalesce((SELECT inserted FROM conv), false) AS created
    `.execute(this.db);
    const conversationId = rows[0]?.conversation_id ?? null;
    return { conversationId, applied: conversationId !== null, created: rows[0]?.created ?? false, posted: null };
  }

  /**
   * Makes this the order's provider (and so a participant of its conversation, replacing an
   * earlier one). Assignments are ordered by the event's time: the contract gives them no version.
   */
  async serviceProviderAssigned(event: OrderServiceProviderAssigned, occurredAt: string): Promise<ProjectionOutcome> {
    const { rows } = await sql<{
      conversation_id: string | null;
      applied: boolean;
      created: boolean;
      previous: string | null;
      current_was_participant: boolean;
    }>`/* orders.provider_assigned */
      WITH people AS (
        INSERT INTO users (id, role) VALUES (${uuid(event.serviceProviderId)}, 'service_provider')
        ON CONFLICT (id) DO NOTHING
      ),
      -- The provider before this event: the order's row locked, so read as it is now rather than
      -- as the statement's snapshot had it (another assignment may have just committed). ord joins
      -- it, so it is read before ord writes.
      prior AS (
        SELECT o.service_provider_id FROM orders o WHERE o.id = ${uuid(event.orderId)} FOR NO KEY UPDATE
      ),
      ord AS (
        INSERT INTO orders (id, service_provider_id, service_provider_changed_at)
        SELECT v.id, v.provider, v.changed_at
          FROM (VALUES (${uuid(event.orderId)}, ${uuid(event.serviceProviderId)}, ${timestamptz(occurredAt)})) AS v (id, provider, changed_at)
          LEFT JOIN prior ON true
        ON CONFLICT (id) DO UPDATE SET
          service_provider_id = excluded.service_provider_id,
          service_provider_changed_at = excluded.service_provider_changed_at
        WHERE orders.deleted_at IS NULL
          AND (orders.service_provider_changed_at IS NULL OR orders.service_provider_changed_at < excluded.service_provider_changed_at)
        RETURNING id, owner_id, service_provider_id
      ),
      -- The trigger on orders swaps the provider among the participants at the end of the statement.
      conv AS (
        INSERT INTO conversations (type, order_id, subject)
        SELECT 'order', ord.id, ${text(event.orderId)} FROM ord
        ON CONFLICT (order_id) WHERE type = 'order' DO UPDATE SET subject = conversations.subject
        RETURNING id, ${inserted}
      )
      SELECT (SELECT id FROM conv) AS conversation_id, EXISTS (SELECT 1 FROM ord) AS applied,
        coalesce((SELECT inserted FROM conv), false) AS created,
        (SELECT prior.service_provider_id FROM prior) AS previous,
        -- Before the trigger swaps the provider in: a provider already in the conversation (as an
        -- agent, say) keeps their row, and their joining is not news.
        EXISTS (SELECT 1 FROM conversation_participants p, conv
                 WHERE p.conversation_id = conv.id AND p.user_id = ${uuid(event.serviceProviderId)}) AS current_was_participant
    `.execute(this.db);
    const row = rows[0];
    const conversationId = row?.conversation_id ?? null;
    const current = event.serviceProviderId.toLowerCase();
    const previous = row?.previous ?? null;
    return {
      conversationId,
      applied: row?.applied ?? false,
      created: row?.created ?? false,
      posted: null,
      ...(conversationId && row?.applied && !row.created && previous !== current
        ? { providerChanged: { conversationId, previous, current, currentWasParticipant: row.current_was_participant } }
        : {}),
    };
  }

  /**
   * Applies a status if it is newer than the applied one, posts "Order status changed to …" as
   * a system message, and closes the conversation on a closing status (reopens it otherwise).
   */
  async statusChanged(event: OrderStatusChanged, occurredAt: string): Promise<ProjectionOutcome> {
    const changedAt = event.changedAt ?? occurredAt;
    const closes = this.closingStatuses.includes(event.status.toLowerCase());
    const version = event.version ?? null;
    const { rows } = await sql<{
      conversation_id: string | null;
      applied: boolean;
      created: boolean;
      message: MessageRow | null;
      audience: string[] | null;
      changed_to: ConversationStatus | null;
      updated_at: Date | string | null;
    }>`/* orders.status_changed */
      WITH ord AS (
        INSERT INTO orders (id, status, status_version, status_changed_at, statuses_at_changed_at)
        VALUES (${uuid(event.orderId)}, ${text(event.status)}, cast(${version} as bigint), ${timestamptz(changedAt)},
                ARRAY[${text(event.status)}])
        ON CONFLICT (id) DO UPDATE SET
          status = excluded.status,
          status_version = coalesce(excluded.status_version, orders.status_version),
          status_changed_at = excluded.status_changed_at,
          statuses_at_changed_at = CASE
            WHEN excluded.status_changed_at = orders.status_changed_at
              THEN orders.statuses_at_changed_at || excluded.status
            ELSE excluded.statuses_at_changed_at END
        WHERE orders.deleted_at IS NULL
          AND orders.status IS DISTINCT FROM excluded.status
          AND CASE
                WHEN excluded.status_version IS NOT NULL AND orders.status_version IS NOT NULL
                  THEN excluded.status_version > orders.status_version
                -- Times have one-second resolution when they come from the envelope: an equal
                -- time is applied in arrival order unless this status was already applied at it.
                ELSE orders.status_changed_at IS NULL OR excluded.status_changed_at > orders.status_changed_at
                  OR (excluded.status_changed_at = orders.status_changed_at
                      AND NOT excluded.status = ANY (coalesce(orders.statuses_at_changed_at, ARRAY[orders.status])))
              END
        RETURNING id
      ),
      -- The conversation's status before this event: locked, after the order's row as every order
      -- change takes them, so it is read as it is now rather than as the statement's snapshot had
      -- it (an admin may have just closed it). conv joins it, so it is read before conv writes.
      before AS (
        SELECT c.status FROM conversations c
         WHERE c.order_id = (SELECT ord.id FROM ord) AND c.type = 'order' FOR NO KEY UPDATE
      ),
      conv AS (
        INSERT INTO conversations (type, order_id, subject, status, last_message_seq, revision)
        SELECT 'order', ord.id, ${text(event.orderId)}, ${closes ? 'closed' : 'active'}, 1, 1 FROM ord LEFT JOIN before ON true
        ON CONFLICT (order_id) WHERE type = 'order' DO UPDATE SET
          status = excluded.status,
          last_message_seq = conversations.last_message_seq + 1,
          revision = conversations.revision + 1
        RETURNING id, status, updated_at, last_message_seq, revision, ${inserted}
      ),
      posted AS (
        INSERT INTO messages AS m (conversation_id, seq, sender_id, kind, content, revision)
        SELECT conv.id, conv.last_message_seq, NULL, 'system', ${text(statusMessage(event.status))}, conv.revision FROM conv
        RETURNING m
      )
      SELECT (SELECT id FROM conv) AS conversation_id, EXISTS (SELECT 1 FROM ord) AS applied,
        coalesce((SELECT inserted FROM conv), false) AS created,
        -- The push's message and audience, so a status costs one statement (conv holds the
        -- conversation's lock; a conversation this event creates gets its people only at the
        -- statement's end, and is announced by a read afterwards).
        (SELECT message_json(posted.m) FROM posted) AS message,
        (SELECT ${audienceOf(sql`conv.id`)} FROM conv WHERE NOT conv.inserted) AS audience,
        (SELECT conv.status FROM conv WHERE NOT conv.inserted AND conv.status IS DISTINCT FROM (SELECT status FROM before))
          AS changed_to,
        (SELECT conv.updated_at FROM conv) AS updated_at
    `.execute(this.db);
    const row = rows[0];
    const audience = row?.audience ?? [];
    return {
      conversationId: row?.conversation_id ?? null,
      applied: row?.applied ?? false,
      created: row?.created ?? false,
      posted: row?.message ? { message: row.message, audience } : null,
      ...(row?.changed_to && row.conversation_id && row.updated_at
        ? {
            statusChanged: {
              conversation: { id: row.conversation_id, status: row.changed_to, updatedAt: toIso(row.updated_at) },
              audience,
            },
          }
        : {}),
    };
  }

  /** Deletes the order's conversation and messages, and leaves a tombstone so no late event revives it. */
  async orderDeleted(event: OrderDeleted): Promise<ProjectionOutcome> {
    const { rows } = await sql<{ conversation_id: string | null }>`/* orders.deleted */
      WITH tombstone AS (
        INSERT INTO orders (id, deleted_at) VALUES (${uuid(event.orderId)}, now())
        ON CONFLICT (id) DO UPDATE SET deleted_at = coalesce(orders.deleted_at, now())
        RETURNING id
      ),
      gone AS (
        DELETE FROM conversations c USING tombstone t WHERE c.order_id = t.id RETURNING c.id
      )
      SELECT (SELECT id FROM gone LIMIT 1) AS conversation_id
    `.execute(this.db);
    return { conversationId: rows[0]?.conversation_id ?? null, applied: true, created: false, posted: null };
  }
}
