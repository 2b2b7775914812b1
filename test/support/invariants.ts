import { type Kysely, sql } from 'kysely';
import { expect } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import type { Database } from '../../lib/db/schema';
import { RECOUNTED_UNREAD } from '../../lib/messaging/read-marks';

/**
 * The invariants the write statements keep, recounted from the tables. The tests and the
 * randomized concurrency suite compare what the kept columns say with what the rows say.
 */

/** One conversation's facts, recounted. */
export async function recount(db: Kysely<Database>, conversationId: string) {
  const { rows } = await sql<{ messages: number; last_message_seq: number; contiguous: boolean; participants: number }>`
    SELECT (SELECT count(*)::int FROM messages m WHERE m.conversation_id = c.id) AS messages,
           c.last_message_seq::int AS last_message_seq,
           coalesce((SELECT bool_and(m.seq = m.position) FROM (
              SELECT seq, row_number() OVER (ORDER BY seq) AS position FROM messages WHERE conversation_id = c.id) m), true) AS contiguous,
           (SELECT count(*)::int FROM conversation_participants p WHERE p.conversation_id = c.id) AS participants
      FROM conversations c WHERE c.id = cast(${conversationId} as uuid)`.execute(db);
  const row = rows[0];
  if (!row) throw new Error(`conversation ${conversationId} does not exist`);
  return {
    messages: row.messages,
    lastMessageSeq: row.last_message_seq,
    seqsContiguous: row.contiguous,
    participants: row.participants,
  };
}

/** A participant row `p`'s unread messages, recounted (RECOUNTED_UNREAD) as a fragment. */
export const recountedUnread = sql<number>`${sql.raw(RECOUNTED_UNREAD)}`;

export interface RateLimitRule {
  limit: number;
  windowSeconds: number;
}

/**
 * Every invariant over the whole database, as a list of violations (empty when all hold):
 * - messages of a conversation have seqs 1..n and the conversation's counter is n;
 * - every kept unread count equals the recount (others' messages after the read mark);
 * - every participant's copy of the activity time equals the conversation's;
 * - no conversation has more than `maxParticipants`;
 * - a message has content or attachments until deleted, and neither after; each attachment is in
 *   at most one message, sent by its uploader in its conversation, and a message lists exactly
 *   the rows that point at it (a tombstone's rows are marked deleted, for the sweep);
 * - the conversation's largest message bound, where known, covers every message it holds;
 * - no sender has more than `send.limit` messages in any window of `send.windowSeconds`
 *   (the limiter's own clock: a message's created_at is the now() it was admitted at).
 */
export async function invariantViolations(
  db: Kysely<Database>,
  scope: { conversationIds: string[]; senderIds: string[] },
  rules: { maxParticipants: number; send?: RateLimitRule },
): Promise<string[]> {
  const violations: string[] = [];
  // Other test files write to the same database at the same time: look only at this scope.
  const conversations = sql`(SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(scope.conversationIds)} as jsonb)))`;
  const senders = sql`(SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(scope.senderIds)} as jsonb)))`;
  const seqs = await sql<{ id: string; n: number; last: number; contiguous: boolean }>`
    SELECT c.id, count(m.id)::int AS n, c.last_message_seq::int AS last,
           coalesce(bool_and(m.seq = m.position), true) AS contiguous
      FROM conversations c
      LEFT JOIN (SELECT id, conversation_id, seq, row_number() OVER (PARTITION BY conversation_id ORDER BY seq) AS position
                   FROM messages) m ON m.conversation_id = c.id
     WHERE c.id IN ${conversations}
     GROUP BY c.id, c.last_message_seq
    HAVING count(m.id) <> c.last_message_seq OR NOT coalesce(bool_and(m.seq = m.position), true)`.execute(db);
  for (const r of seqs.rows)
    violations.push(`conversation ${r.id}: ${r.n} messages, counter ${r.last}, contiguous ${r.contiguous}`);

  const unread = await sql<{ conversation_id: string; user_id: string; kept: number; recounted: number }>`
    SELECT * FROM (
      SELECT p.conversation_id, p.user_id, p.unread_count AS kept, ${recountedUnread} AS recounted
        FROM conversation_participants p WHERE p.conversation_id IN ${conversations}) counts
     WHERE kept <> recounted`.execute(db);
  for (const r of unread.rows) {
    violations.push(`unread of ${r.user_id} in ${r.conversation_id}: kept ${r.kept}, recounted ${r.recounted}`);
  }

  const activity = await sql<{ conversation_id: string; user_id: string }>`
    SELECT p.conversation_id, p.user_id FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
     WHERE p.activity_at <> c.updated_at AND c.id IN ${conversations}`.execute(db);
  for (const r of activity.rows)
    violations.push(`activity of ${r.user_id} in ${r.conversation_id} differs from the conversation's`);

  const marks = await sql<{ conversation_id: string; user_id: string }>`
    SELECT p.conversation_id, p.user_id FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
     WHERE (p.last_read_seq > c.last_message_seq OR p.last_read_seq < 0) AND c.id IN ${conversations}`.execute(db);
  for (const r of marks.rows)
    violations.push(`read mark of ${r.user_id} in ${r.conversation_id} is outside the conversation`);

  // Revisions: every change took the next one under the conversation's lock, so a conversation's
  // messages have distinct revisions and none is past the conversation's; a tombstone has no content.
  const revisions = await sql<{ id: string; n: number; distinct_revisions: number; newest: number; revision: number }>`
    SELECT c.id, count(m.id)::int AS n, count(DISTINCT m.revision)::int AS distinct_revisions,
           coalesce(max(m.revision), 0)::int AS newest, c.revision::int AS revision
      FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id
     WHERE c.id IN ${conversations}
     GROUP BY c.id, c.revision
    HAVING count(m.id) <> count(DISTINCT m.revision) OR coalesce(max(m.revision), 0) > c.revision`.execute(db);
  for (const r of revisions.rows)
    violations.push(
      `conversation ${r.id}: ${r.n} messages with ${r.distinct_revisions} distinct revisions, newest ${r.newest}, conversation at ${r.revision}`,
    );

  // A page clears its byte budget by the conversation's largest message bound (migration 0010):
  // where it is known (not NULL), it must cover every message the conversation holds, recounted
  // here from the rows.
  const bounds = await sql<{ id: string; kept: string; recounted: string }>`
    SELECT * FROM (
      SELECT c.id, c.largest_message_bound AS kept, max(coalesce(6 * octet_length(m.content) + 2, 0)
                                                      + coalesce(octet_length(m.attachments::text), 0)) AS recounted
        FROM conversations c JOIN messages m ON m.conversation_id = c.id
       WHERE c.id IN ${conversations}
       GROUP BY c.id, c.largest_message_bound) b
     WHERE b.recounted > b.kept`.execute(db);
  for (const r of bounds.rows)
    violations.push(`conversation ${r.id}: largest message bound ${r.kept}, a message's is ${r.recounted}`);

  const attachments = await sql<{ problem: string }>`
    SELECT 'message ' || m.id || ' lists attachment ' || (e->>'id') || ' whose row does not belong to it' AS problem
      FROM messages m CROSS JOIN LATERAL jsonb_array_elements(coalesce(m.attachments, '[]'::jsonb)) e
      LEFT JOIN attachments a ON a.id = cast(e->>'id' as uuid)
     WHERE m.conversation_id IN ${conversations}
       AND (a.id IS NULL OR a.message_id IS DISTINCT FROM m.id OR a.uploader_id IS DISTINCT FROM m.sender_id
            OR a.conversation_id <> m.conversation_id OR a.state NOT IN ('ready', 'rejected'))
    UNION ALL
    SELECT 'attachment ' || a.id || ' points at message ' || a.message_id || ', which does not list it'
      FROM attachments a JOIN messages m ON m.id = a.message_id
     WHERE a.conversation_id IN ${conversations} AND a.state <> 'deleted'
       AND NOT coalesce(m.attachments, '[]'::jsonb) @> jsonb_build_array(jsonb_build_object('id', a.id))
    UNION ALL
    SELECT 'attachment ' || a.id || ' of the deleted message ' || m.id || ' is ' || a.state
      FROM attachments a JOIN messages m ON m.id = a.message_id
     WHERE a.conversation_id IN ${conversations} AND m.deleted_at IS NOT NULL AND a.state <> 'deleted'
    UNION ALL
    SELECT 'attachment ' || (e->>'id') || ' is in ' || count(*) || ' messages'
      FROM messages m CROSS JOIN LATERAL jsonb_array_elements(coalesce(m.attachments, '[]'::jsonb)) e
     WHERE m.conversation_id IN ${conversations} GROUP BY e->>'id' HAVING count(*) > 1
    UNION ALL
    SELECT 'message ' || m.id || ' is half deleted' FROM messages m
     WHERE m.conversation_id IN ${conversations}
       AND CASE WHEN m.deleted_at IS NULL THEN m.content IS NULL AND m.attachments IS NULL
                ELSE m.content IS NOT NULL OR m.attachments IS NOT NULL OR m.reactions IS NOT NULL END`.execute(db);
  for (const r of attachments.rows) violations.push(r.problem);

  const crowded = await sql<{ conversation_id: string; n: number }>`
    SELECT conversation_id, count(*)::int AS n FROM conversation_participants
     WHERE conversation_id IN ${conversations} GROUP BY conversation_id
    HAVING count(*) > ${rules.maxParticipants}`.execute(db);
  for (const r of crowded.rows) violations.push(`conversation ${r.conversation_id} has ${r.n} participants`);

  if (rules.send) {
    const bursts = await sql<{ sender_id: string; n: number }>`
      SELECT a.sender_id, count(*)::int AS n
        FROM messages a JOIN messages b
          ON b.sender_id = a.sender_id AND b.kind = 'user'
         AND b.created_at > a.created_at - make_interval(secs => ${rules.send.windowSeconds}) AND b.created_at <= a.created_at
       WHERE a.kind = 'user' AND a.sender_id IN ${senders}
       GROUP BY a.id, a.sender_id
      HAVING count(*) > ${rules.send.limit}
       LIMIT 5`.execute(db);
    for (const r of bursts.rows) violations.push(`sender ${r.sender_id} has ${r.n} messages in one window`);
  }
  return violations;
}

/**
 * The kept unread counts equal a recount from the messages, for every participant of these
 * conversations: the invariant the triggers and read-mark statements maintain.
 */
export async function expectUnreadCountsExact(db: Kysely<Database>, ...conversationIds: string[]) {
  const { rows } = await sql<{ user_id: string; kept: number; recounted: number }>`
    SELECT p.user_id, p.unread_count AS kept,
           (SELECT count(*)::int FROM messages m
             WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq
               AND m.sender_id IS DISTINCT FROM p.user_id AND m.deleted_at IS NULL) AS recounted
      FROM conversation_participants p
     WHERE p.conversation_id IN (SELECT cast(value as uuid) FROM jsonb_array_elements_text(cast(${JSON.stringify(conversationIds)} as jsonb)))`.execute(
    db,
  );
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) expect(row.kept, `unread of ${row.user_id}`).toBe(row.recounted);
}

/** Runs one operation and returns its result with the database round trips it cost. */
export async function counted<T>(
  handle: DatabaseHandle,
  run: () => Promise<T>,
): Promise<{ result: T; roundTrips: number }> {
  handle.counter.reset();
  const result = await run();
  return { result, roundTrips: handle.counter.roundTrips };
}
