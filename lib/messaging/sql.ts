import { type Kysely, type RawBuilder, sql } from 'kysely';
import { uuid } from '../db/casts';
import type { Database } from '../db/schema';
import type { MessagingLimits } from './limits';
import type { MessageRow, ParticipantRow } from './rows';
import type { Caller } from './types';

/**
 * The SQL pieces more than one statement uses, each written once. Every statement of the domain
 * starts with its name as a comment (`/* messages.send *\/`), so pg_stat_statements, Performance
 * Insights and the benchmark's EXPLAIN output tell them apart.
 */

/** What every domain operation works with. */
export interface Domain {
  db: Kysely<Database>;
  limits: MessagingLimits;
}

const MESSAGE_COLUMNS = [
  'id',
  'conversation_id',
  'sender_id',
  'kind',
  'content',
  'client_message_id',
  'read_at',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof MessageRow>;

type MessageColumn = (typeof MESSAGE_COLUMNS)[number];

/** One value per message column: the alias's own column unless an override says otherwise. */
function messageValues(alias: string, overrides: Partial<Record<MessageColumn, RawBuilder<unknown>>>) {
  return MESSAGE_COLUMNS.map((column) => [column, overrides[column] ?? sql.ref(`${alias}.${column}`)] as const);
}

/** The columns of a message row (`m.id, m.conversation_id, …`), as MessageRow names them. */
export function messageColumns(
  alias: string,
  overrides: Partial<Record<MessageColumn, RawBuilder<unknown>>> = {},
): RawBuilder<MessageRow> {
  return sql.join(messageValues(alias, overrides).map(([column, value]) => sql`${value} AS ${sql.id(column)}`));
}

/** A message as JSON with its column names; `previewCodePoints` cuts the content (inbox previews). */
export function messageJson(alias: string, previewCodePoints?: number): RawBuilder<MessageRow> {
  const overrides =
    previewCodePoints === undefined
      ? {}
      : { content: sql`left(${sql.ref(`${alias}.content`)}, ${sql.lit(previewCodePoints)})` };
  return sql`json_build_object(${sql.join(messageValues(alias, overrides).map(([column, value]) => sql`${sql.lit(column)}, ${value}`))})`;
}

/** A participant as JSON with its column names (maps with toParticipant). */
export function participantJson(alias: string): RawBuilder<ParticipantRow> {
  const column = (name: keyof ParticipantRow) => sql`${sql.lit(name)}, ${sql.ref(`${alias}.${name}`)}`;
  return sql`json_build_object(${sql.join([column('user_id'), column('role'), column('joined_at'), column('last_read_at')])})`;
}

/**
 * A conversation's participants as a JSON array in join order, read from `source` (the table,
 * or the rows a statement just inserted).
 */
export function participantsJson(
  source: RawBuilder<unknown>,
  conversationId: RawBuilder<unknown>,
): RawBuilder<ParticipantRow[]> {
  return sql`(SELECT json_agg(${participantJson('p')} ORDER BY p.joined_at, p.user_id)
                FROM ${source} p WHERE p.conversation_id = ${conversationId})`;
}

/** True when the caller may read the conversation whose id is `conversationId`: a participant, or an admin. */
export function visibleTo(caller: Caller, conversationId: RawBuilder<unknown>): RawBuilder<boolean> {
  return sql`(${caller.isAdmin} OR EXISTS (
    SELECT 1 FROM conversation_participants v WHERE v.conversation_id = ${conversationId} AND v.user_id = ${uuid(caller.userId)}))`;
}

/** The SQL interval of a rate window. */
export function windowOf(seconds: number): RawBuilder<string> {
  return sql`make_interval(secs => ${sql.lit(seconds)})`;
}

/** Whole seconds until a refused action may succeed, within [1, window]. */
export function retryAfter(seconds: number | null, windowSeconds: number): number {
  return Math.max(1, Math.min(windowSeconds, seconds ?? windowSeconds));
}
