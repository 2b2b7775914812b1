import { type Kysely, type RawBuilder, sql } from 'kysely';
import { uuid } from '../db/casts';
import type { Database } from '../db/schema';
import type { Publisher } from '../realtime/publisher';
import { defaultLimits, type MessagingLimits } from './limits';
import type { MessageRow, ParticipantRow } from './rows';
import type { Caller } from './types';

/**
 * The SQL pieces more than one statement uses, each written once. Every statement of the domain
 * starts with its name as a comment (`/* messages.send *\/`), so pg_stat_statements, Performance
 * Insights and the benchmark's EXPLAIN output tell them apart.
 */

/** What every domain operation works with. */
/** The domain over a database: the limits (defaults where not given) and the publisher. */
export function domainOver(db: Kysely<Database>, limits: Partial<MessagingLimits>, publisher: Publisher): Domain {
  return { db, limits: { ...defaultLimits, ...limits }, publisher };
}

export interface Domain {
  db: Kysely<Database>;
  limits: MessagingLimits;
  /** Where writes push their changes (lib/messaging/push.ts). */
  publisher: Publisher;
}

/**
 * A message as the API's JSON with its column names (migration 0006's `message_json`, the one
 * place its shape is written: the PL/pgSQL functions return it too); `previewCodePoints` cuts the
 * content (inbox previews). Maps with toMessage.
 */
export function messageJson(alias: string, previewCodePoints?: number): RawBuilder<MessageRow> {
  return previewCodePoints === undefined
    ? sql`message_json(${sql.ref(alias)})`
    : sql`message_json(${sql.ref(alias)}, ${sql.lit(previewCodePoints)})`;
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

/**
 * The connections that must hear of a write, as its statement returned them (empty when the
 * write changed nothing). Pushing them is the caller's next step (MessagingService).
 */
export interface Audience {
  audience: string[];
}

/** The same by participant (user id → connection ids), for frames that differ per reader. */
export interface AudienceByUser {
  audienceByUser: Record<string, string[]>;
}

/**
 * The live connections of a conversation's participants, but `except` (migration 0005), as a
 * JSON array: JSON reads the same from every back end, where the Data API would answer an SQL
 * array as an arrayValue. The SQL function takes a fresh snapshot: call it only after the
 * statement holds the conversation's lock, or about a change nobody else can race.
 */
export function audienceOf(conversationId: RawBuilder<unknown>, except: string | null = null): RawBuilder<string[]> {
  return sql`to_json(conversation_audience(${conversationId}, ${uuid(except)}))`;
}

/** The same with the live connections of `userId` added (a participant who just left). */
export function audienceWith(conversationId: RawBuilder<unknown>, userId: string): RawBuilder<string[]> {
  return sql`to_json(ARRAY(
    SELECT unnest(conversation_audience(${conversationId}, ${uuid(userId)}))
    UNION SELECT k.connection_id FROM connections k WHERE k.user_id = ${uuid(userId)} AND k.expires_at > now()
    ORDER BY 1))`;
}

/** The live connections of the users in a row source with a `user_id` column, as a JSON array. */
export function connectionsOf(users: RawBuilder<unknown>): RawBuilder<string[]> {
  return sql`(SELECT coalesce(json_agg(k.connection_id ORDER BY k.connection_id), '[]')
                FROM ${users} u JOIN connections k ON k.user_id = u.user_id AND k.expires_at > now())`;
}

/** The SQL interval of a rate window. */
export function windowOf(seconds: number): RawBuilder<string> {
  return sql`make_interval(secs => ${sql.lit(seconds)})`;
}

/** Whole seconds until a refused action may succeed, within [1, window]. */
export function retryAfter(seconds: number | null, windowSeconds: number): number {
  return Math.max(1, Math.min(windowSeconds, seconds ?? windowSeconds));
}
