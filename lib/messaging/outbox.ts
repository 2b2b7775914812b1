import { sql } from 'kysely';
import type { Domain } from './sql';
import { windowOf } from './sql';

/**
 * The outbox: domain events the triggers of migration 0008 queue in the statement of their change
 * (so none is lost), published to EventBridge by the relay (lib/events/outbox-relay.ts). At least
 * once: an event whose relay died before recording it is claimed again after its lease, and
 * consumers de-duplicate by `detail.eventId`.
 */

export interface OutboxEvent {
  id: string;
  detailType: string;
  detail: Record<string, unknown>;
  createdAt: string;
}

/** Claims unpublished events (oldest first; leases keep concurrent relays apart) and prunes old published ones. */
export async function claimOutboxEvents(
  d: Domain,
  options: { batch: number; leaseSeconds: number },
): Promise<OutboxEvent[]> {
  const { rows } = await sql<{
    id: string;
    detail_type: string;
    detail: Record<string, unknown> | string;
    created_at: Date | string;
  }>`/* outbox.claim */
    WITH claimed AS (
      UPDATE outbox_events e SET lease_until = now() + ${windowOf(options.leaseSeconds)}, attempts = e.attempts + 1
       WHERE e.id IN (SELECT o.id FROM outbox_events o
                       WHERE o.published_at IS NULL AND o.lease_until <= now()
                       ORDER BY o.created_at LIMIT ${sql.lit(options.batch)} FOR UPDATE SKIP LOCKED)
      -- The detail as published: what the trigger wrote, with the event's own id and time.
      RETURNING e.id, e.detail_type, jsonb_build_object('eventId', e.id, 'occurredAt', e.created_at) || e.detail AS detail,
                e.created_at
    ),
    pruned AS (
      DELETE FROM outbox_events e
       WHERE e.id IN (SELECT o.id FROM outbox_events o
                       WHERE o.published_at IS NOT NULL AND o.published_at < now() - interval '1 day' LIMIT 1000)
      RETURNING 1
    )
    SELECT id, detail_type, detail, created_at FROM claimed ORDER BY created_at, id
  `.execute(d.db);
  return rows.map((row) => ({
    id: row.id,
    detailType: row.detail_type,
    detail: typeof row.detail === 'string' ? (JSON.parse(row.detail) as Record<string, unknown>) : row.detail,
    createdAt: new Date(row.created_at).toISOString(),
  }));
}

/** Records events as published; returns how many this call recorded (an event is recorded once). */
export async function markOutboxPublished(d: Domain, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rows } = await sql<{ marked: string }>`/* outbox.mark_published */
    WITH marked AS (
      UPDATE outbox_events SET published_at = now()
       WHERE id IN (SELECT cast(value AS uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(ids)} AS jsonb)))
         AND published_at IS NULL
      RETURNING 1)
    SELECT count(*) AS marked FROM marked
  `.execute(d.db);
  return Number(rows[0]?.marked ?? 0);
}
