import { sql } from 'kysely';
import { text, uuid } from '../db/casts';
import { webSocketLimits } from '../realtime/routes';
import type { Domain } from './sql';

/**
 * WebSocket connections: the registry that writes read their audience from (migration 0005).
 * Each operation is one statement.
 */

/**
 * Registers a connection for the user the authorizer verified. API Gateway closes every
 * connection within 2 hours, so the row expires then even if its `$disconnect` never comes; the
 * same statement drops the user's rows that have expired.
 */
export async function connect(d: Domain, connectionId: string, userId: string): Promise<void> {
  await sql`/* connections.connect */
    WITH expired AS (
      DELETE FROM connections WHERE user_id = ${uuid(userId)} AND expires_at <= now()
    )
    INSERT INTO connections (connection_id, user_id, expires_at)
    VALUES (${text(connectionId)}, ${uuid(userId)}, now() + make_interval(secs => ${sql.lit(webSocketLimits.maxSeconds)}))
    ON CONFLICT (connection_id) DO NOTHING
  `.execute(d.db);
}

export async function disconnect(d: Domain, connectionId: string): Promise<void> {
  await sql`/* connections.disconnect */
    DELETE FROM connections WHERE connection_id = ${text(connectionId)}
  `.execute(d.db);
}

/** Drops connections API Gateway answered 410 Gone for: they closed without a `$disconnect` we saw. */
export async function forget(d: Domain, connectionIds: readonly string[]): Promise<void> {
  if (connectionIds.length === 0) return;
  await sql`/* connections.forget */
    DELETE FROM connections
    WHERE connection_id IN (SELECT value FROM jsonb_array_elements_text(cast(${JSON.stringify(connectionIds)} AS jsonb)))
  `.execute(d.db);
}
