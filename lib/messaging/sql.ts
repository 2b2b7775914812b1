import { type Kysely, type RawBuilder, sql } from 'kysely';
import { uuid } from '../db/casts';
import type { Database } from '../db/schema';
import type { Publisher } from '../realtime/publisher';
import type { AttachmentFiles } from './attachment-files';
import { type AttachmentSettings, defaultAttachmentSettings, defaultLimits, type MessagingLimits } from './limits';
import type { MessageRow, ParticipantRow } from './rows';
import type { Caller } from './types';

/**
 * The SQL pieces more than one statement uses, each written once. Every statement of the domain
 * starts with its name as a comment (`/* messages.send *\/`), so pg_stat_statements, Performance
 * Insights and the benchmark's EXPLAIN output tell them apart.
 */

/** What every domain operation works with. */
/**
 * The domain over a database: the limits (defaults where not given), the publisher, and the
 * attachments bucket (none: the attachment routes answer 503).
 */
export function domainOver(
  db: Kysely<Database>,
  limits: Partial<MessagingLimits>,
  publisher: Publisher,
  attachments: Partial<AttachmentSettings> & { files?: AttachmentFiles } = {},
): Domain {
  const { files, ...settings } = attachments;
  return {
    db,
    limits: { ...defaultLimits, ...limits },
    publisher,
    attachments: { ...defaultAttachmentSettings, ...settings, files },
  };
}

export interface Domain {
  db: Kysely<Database>;
  limits: MessagingLimits;
  /** Where writes push their changes (lib/messaging/push.ts). */
  publisher: Publisher;
  /**
   * Called by the step after a write (push) once the write's statement has returned and its
   * pushes' calls are out: the HTTP handler starts the outbox relay's nudge there, so that the
   * request waits for the slower of the two rather than for both in turn.
   */
  written?: () => void;
  /** What uploads may be, and the bucket (lib/messaging/attachments.ts). */
  attachments: AttachmentSettings & { files: AttachmentFiles | undefined };
}

/** The columns of a message as the API's JSON carries them (MessageRow's keys, but reply_to). */
const MESSAGE_JSON_COLUMNS = [
  'id',
  'conversation_id',
  'sender_id',
  'kind',
  'content',
  'client_message_id',
  'read_at',
  'created_at',
  'updated_at',
  'edited_at',
  'deleted_at',
  'revision',
  'reactions',
  'attachments',
] as const satisfies ReadonlyArray<keyof MessageRow>;

/**
 * A message as the API's JSON with its column names, written inline so the planner evaluates it
 * per row without a function call (the SQL function `message_json` of migration 0006 builds the
 * same object for the PL/pgSQL functions' single rows; a test keeps the two equal).
 * `previewCodePoints` cuts the content (inbox previews). Maps with toMessage.
 */
export function messageJson(alias: string, previewCodePoints?: number): RawBuilder<MessageRow> {
  const column = (name: (typeof MESSAGE_JSON_COLUMNS)[number]) => {
    const ref = sql.ref(`${alias}.${name}`);
    return name === 'content' && previewCodePoints !== undefined
      ? sql`left(${ref}, ${sql.lit(previewCodePoints)})`
      : ref;
  };
  const replyTo = sql`CASE WHEN ${sql.ref(`${alias}.reply_to_id`)} IS NOT NULL THEN (
    SELECT json_build_object('id', o.id, 'sender_id', o.sender_id, 'preview', left(o.content, 100))
      FROM messages o WHERE o.id = ${sql.ref(`${alias}.reply_to_id`)}) END`;
  return sql`json_build_object(${sql.join([
    ...MESSAGE_JSON_COLUMNS.map((name) => sql`${sql.lit(name)}, ${column(name)}`),
    sql`'reply_to', ${replyTo}`,
  ])})`;
}

/** A participant as JSON with its column names and their name from the users projection (maps with toParticipant). */
export function participantJson(alias: string): RawBuilder<ParticipantRow> {
  const column = (name: Exclude<keyof ParticipantRow, 'display_name'>) =>
    sql`${sql.lit(name)}, ${sql.ref(`${alias}.${name}`)}`;
  const displayName = sql`'display_name', (SELECT u.display_name FROM users u WHERE u.id = ${sql.ref(`${alias}.user_id`)})`;
  return sql`json_build_object(${sql.join([column('user_id'), column('role'), column('joined_at'), column('last_read_at'), displayName])})`;
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
 * write changed nothing). The noun's module pushes to them next (push.ts).
 */
export interface Audience {
  audience: string[];
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

/**
 * The live connections of the users in a row source with a `user_id` column, as a JSON array:
 * each user's by the index, as conversation_audience reads them (migration 0010 says why).
 */
export function connectionsOf(users: RawBuilder<unknown>): RawBuilder<string[]> {
  return sql`(SELECT coalesce(json_agg(k.connection_id ORDER BY k.connection_id), '[]')
                FROM ${users} u CROSS JOIN LATERAL (
                  SELECT c.connection_id FROM connections c
                   WHERE c.user_id = u.user_id AND c.expires_at > now() OFFSET 0) k)`;
}

/** The SQL interval of a rate window. */
export function windowOf(seconds: number): RawBuilder<string> {
  return sql`make_interval(secs => ${sql.lit(seconds)})`;
}

/** Whole seconds until a refused action may succeed, within [1, window]. */
export function retryAfter(seconds: number | null, windowSeconds: number): number {
  return Math.max(1, Math.min(windowSeconds, seconds ?? windowSeconds));
}
