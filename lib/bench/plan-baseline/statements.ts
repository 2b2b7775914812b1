import { rewritePlaceholders } from '../../db/placeholders';

/**
 * The statements a competent developer writes from the original plan (/work/shared/seed-plan.md),
 * each written once with `$n` parameters: the plan's handlers (./handlers.ts) send them with their
 * values through the service's database layer, and pgbench (../sql-bench.ts) runs them with the
 * values written in. Parameters are cast because the Data API sends strings as varchar and
 * `uuid = varchar` does not exist, as in the service's own SQL (lib/db/casts.ts).
 */
export const planStatements = {
  /**
   * Plan endpoint 1, "List user's conversations … with last message preview", and "Show unread
   * count per conversation" (Read Status): unread = others' messages after last_read_at.
   * $1 user, $2 limit, $3 offset.
   */
  inbox: `SELECT c.*, lm.content AS last_message, lm.created_at AS last_message_at,
  (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.sender_id <> p.user_id
      AND m.created_at > coalesce(p.last_read_at, '-infinity')) AS unread_count
  FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
  LEFT JOIN LATERAL (SELECT content, created_at FROM messages m WHERE m.conversation_id = c.id ORDER BY m.created_at DESC LIMIT 1) lm ON true
 WHERE p.user_id = cast($1 as uuid) ORDER BY c.updated_at DESC LIMIT $2 OFFSET $3`,
  /**
   * Plan, "Read Status": "Show unread indicator", counted from last_read_at. $1 user. "Never read"
   * is `coalesce(…, '-infinity')` rather than `last_read_at IS NULL OR …`: the same rows, but the
   * OR kept the time out of the index condition, and PostgreSQL hashed all 2 M messages (790 ms at
   * full size, against 100 ms as an index lookup per conversation); a developer who measured it
   * once would write it this way.
   */
  unreadTotal: `SELECT count(*) AS unread, count(DISTINCT p.conversation_id) AS conversations
  FROM conversation_participants p JOIN messages m ON m.conversation_id = p.conversation_id
 WHERE p.user_id = cast($1 as uuid) AND m.sender_id <> p.user_id AND m.created_at > coalesce(p.last_read_at, '-infinity')`,
  /**
   * Plan endpoint 3, "?limit=50&offset=0": oldest first, offset paging; the access check of
   * "Security Considerations" as an EXISTS in the same statement (a caller who is not a
   * participant sees no message). $1 conversation, $2 caller, $3 limit, $4 offset.
   */
  page: `SELECT m.* FROM messages m
 WHERE m.conversation_id = cast($1 as uuid) AND EXISTS (SELECT 1 FROM conversation_participants p WHERE p.conversation_id = cast($1 as uuid) AND p.user_id = cast($2 as uuid))
 ORDER BY m.created_at ASC LIMIT $3 OFFSET $4`,
  /**
   * Plan endpoint 7 and "Track when user reads entire conversation", in one transaction: the
   * caller's read mark first, so that a caller who is not a participant (no row) changes nothing,
   * then every message the others sent. $1 conversation, $2 caller.
   */
  markConversationRead: [
    `UPDATE conversation_participants SET last_read_at = NOW() WHERE conversation_id = cast($1 as uuid) AND user_id = cast($2 as uuid) RETURNING last_read_at`,
    `UPDATE messages SET read_at = NOW() WHERE conversation_id = cast($1 as uuid) AND sender_id <> cast($2 as uuid) AND read_at IS NULL`,
  ],
  /**
   * Plan, "Message Sending", in one transaction: validate sender is participant; create message
   * record; update conversation updated_at; update sender's last_read_at; return created message.
   * $1 conversation, $2 sender, $3 content.
   */
  send: {
    isParticipant: `SELECT 1 FROM conversation_participants WHERE conversation_id = cast($1 as uuid) AND user_id = cast($2 as uuid)`,
    insert: `INSERT INTO messages (conversation_id, sender_id, content) VALUES (cast($1 as uuid), cast($2 as uuid), $3) RETURNING *`,
    touchConversation: `UPDATE conversations SET updated_at = NOW() WHERE id = cast($1 as uuid)`,
    touchReadMark: `UPDATE conversation_participants SET last_read_at = NOW() WHERE conversation_id = cast($1 as uuid) AND user_id = cast($2 as uuid)`,
  },
} as const;

/**
 * A value written into a statement for a client without parameters (pgbench): a literal, or SQL
 * of its own (`{ sql }`: a pgbench expression over its `:variables`).
 */
export type WrittenValue = string | number | bigint | boolean | Date | null | undefined | { sql: string };

/** The statement with its `$n` parameters written in as literals (or as the SQL given). */
export function writeIn(statement: string, values: readonly WrittenValue[]): string {
  return rewritePlaceholders(statement, (p) => {
    if (p.kind !== 'positional') return statement.slice(p.start, p.end);
    if (p.index > values.length) throw new Error(`no value for $${p.index} in ${statement}`);
    const value = values[p.index - 1];
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
    if (typeof value === 'boolean') return value ? 'true' : 'false';
    if (value instanceof Date) return `'${value.toISOString()}'`;
    if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
    return value.sql;
  });
}
