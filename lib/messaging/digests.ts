import { sql } from 'kysely';
import type { Domain } from './sql';
import { windowOf } from './sql';

/**
 * Email digests: one email per conversation for a participant who has not read what others wrote
 * there for `delaySeconds`, is not connected, has not muted it and has not turned email off.
 *
 * Exactly once, across crashes and concurrent sweeps: the claim is one statement that locks the
 * due participant rows (SKIP LOCKED: concurrent sweeps split the work), moves each one's
 * `notified_seq` to the newest message it covers, and queues the email as a row of
 * `email_digests`, all or nothing. Sending is the next step; `settleDigests` then records what
 * SES took. An email whose sweep died before settling is claimed again by a later sweep once its
 * lease ran out; one SES refused for good is recorded as failed and not retried.
 */

export interface DigestSettings {
  delaySeconds: number;
  /** Conversations (and retries) one claim takes. */
  batch: number;
  /** How long a claimed email is its sweep's: longer than the sweep function's timeout. */
  leaseSeconds: number;
  /** After this many claims an email is given up (recorded as failed). */
  maxAttempts: number;
}

export const defaultDigestSettings: DigestSettings = {
  delaySeconds: 300,
  batch: 100,
  leaseSeconds: 120,
  maxAttempts: 5,
};

/** The messages a digest shows at most; the count says how many more there are. */
export const DIGEST_ITEMS = 20;

export interface DigestItem {
  seq: number;
  kind: 'user' | 'system';
  senderId: string | null;
  senderName: string | null;
  content: string;
  attachments: string[];
  createdAt: string;
}

/** What an email says, fixed when it is queued so that a retry sends the same email. */
export interface DigestContent {
  conversation: { id: string; type: 'order' | 'general' | 'support'; subject: string | null };
  recipientName: string | null;
  /** Every unread message it covers; `items` shows the newest DIGEST_ITEMS of them, oldest first. */
  unreadCount: number;
  items: DigestItem[];
}

export interface QueuedDigest {
  id: string;
  userId: string;
  conversationId: string;
  recipient: string;
  content: DigestContent;
  attempts: number;
}

interface QueuedRow {
  id: string;
  user_id: string;
  conversation_id: string;
  recipient: string;
  content: DigestContent | string;
  attempts: number;
}

/** The messages of `d` (a due row) a digest covers: others', not deleted, after what was read or emailed. */
const covered = sql`m.conversation_id = d.conversation_id AND m.seq > d.after_seq
                    AND m.sender_id IS DISTINCT FROM d.user_id AND m.deleted_at IS NULL`;

/** Claims due digests (new ones and expired leases) in one statement; see the module comment. */
export async function claimDigests(d: Domain, settings: DigestSettings): Promise<QueuedDigest[]> {
  const delay = windowOf(settings.delaySeconds);
  const lease = windowOf(settings.leaseSeconds);
  const batch = sql.lit(settings.batch);
  const maxAttempts = sql.lit(settings.maxAttempts);
  const { rows } = await sql<QueuedRow>`/* digests.claim */
    WITH due AS (
      SELECT p.id, p.conversation_id, p.user_id, greatest(p.last_read_seq, p.notified_seq) AS after_seq,
             u.email, u.display_name
        FROM conversations dc JOIN conversation_participants p ON p.conversation_id = dc.id
        JOIN users u ON u.id = p.user_id
             -- The range of conversations_by_activity, which every send maintains anyway (a
             -- participant's activity is its conversation's; see migration 0012): a conversation
             -- quiet for a day was emailed about long ago, or never will be (after an outage,
             -- nobody gets day-old digests).
       WHERE dc.updated_at > now() - interval '1 day'
         AND p.unread_count > 0 AND NOT p.muted
         AND u.email IS NOT NULL AND u.email_notifications
         AND (p.notified_at IS NULL OR p.notified_at <= now() - ${delay})
         AND NOT EXISTS (SELECT 1 FROM connections k WHERE k.user_id = p.user_id AND k.expires_at > now())
         -- Due when the oldest message it would cover is old enough. Asked as "the first one's
         -- time" (one index step) rather than "any old enough": the planner then expects the
         -- statement to stop after the batch, and does not JIT-compile it (~60 ms at full size).
         AND (SELECT m.created_at FROM messages m
               WHERE m.conversation_id = p.conversation_id AND m.seq > greatest(p.last_read_seq, p.notified_seq)
                 AND m.sender_id IS DISTINCT FROM p.user_id AND m.deleted_at IS NULL
               ORDER BY m.seq LIMIT 1) <= now() - ${delay}
       ORDER BY dc.updated_at
       LIMIT ${batch}
       -- The conversation too, as the email's foreign key would lock it: taken here, with SKIP
       -- LOCKED, a conversation being deleted (whose cascade waits for these participant rows) is
       -- skipped rather than deadlocked with. KEY SHARE does not conflict with sends' updates.
       FOR UPDATE OF p SKIP LOCKED
       FOR KEY SHARE OF dc SKIP LOCKED
    ),
    content AS (
      SELECT d.id, d.user_id, d.conversation_id, d.email, c.last_message_seq,
             jsonb_build_object(
               'conversation', jsonb_build_object('id', c.id, 'type', c.type, 'subject', c.subject),
               'recipientName', d.display_name,
               'unreadCount', (SELECT count(*) FROM messages m WHERE ${covered}),
               'items', (SELECT coalesce(jsonb_agg(x.item ORDER BY x.seq), '[]'::jsonb) FROM (
                  SELECT m.seq, jsonb_build_object(
                           'seq', m.seq, 'kind', m.kind, 'senderId', m.sender_id, 'senderName', s.display_name,
                           'content', m.content, 'createdAt', m.created_at,
                           'attachments', (SELECT coalesce(jsonb_agg(a->>'filename'), '[]'::jsonb)
                                             FROM jsonb_array_elements(coalesce(m.attachments, '[]'::jsonb)) a)) AS item
                    FROM messages m LEFT JOIN users s ON s.id = m.sender_id
                   WHERE ${covered}
                   ORDER BY m.seq DESC LIMIT ${sql.lit(DIGEST_ITEMS)}) x)) AS body
        FROM due d JOIN conversations c ON c.id = d.conversation_id
    ),
    moved AS (
      UPDATE conversation_participants p
         SET notified_seq = greatest(p.notified_seq, x.last_message_seq), notified_at = now()
        -- By the primary key (conversation, user): the row's id has no index of its own.
        FROM content x WHERE p.conversation_id = x.conversation_id AND p.user_id = x.user_id
      RETURNING p.id
    ),
    queued AS (
      INSERT INTO email_digests (user_id, conversation_id, recipient, up_to_seq, content, lease_until)
      SELECT x.user_id, x.conversation_id, x.email, x.last_message_seq, x.body, now() + ${lease}
        FROM content x JOIN moved USING (id)
      RETURNING id, user_id, conversation_id, recipient, content, attempts
    ),
    -- An email to retry, once its lease ran out, says only what is still true: the messages
    -- since deleted or read are taken out. It is withdrawn when nothing is left, or when its
    -- recipient no longer wants it (a bounce, complaint or unsubscribe since, muted, or gone).
    expired AS (
      SELECT r.id, r.attempts, r.content,
             (SELECT coalesce(jsonb_agg(i.item ORDER BY (i.item->>'seq')::bigint), '[]'::jsonb)
                FROM jsonb_array_elements(r.content->'items') AS i(item)
                JOIN messages m ON m.conversation_id = r.conversation_id AND m.seq = (i.item->>'seq')::bigint
               WHERE m.deleted_at IS NULL AND m.seq > p.last_read_seq) AS kept,
             (u.email_notifications AND u.email IS NOT NULL AND p.user_id IS NOT NULL AND NOT p.muted) AS wanted
        FROM email_digests r JOIN users u ON u.id = r.user_id
        LEFT JOIN conversation_participants p ON p.conversation_id = r.conversation_id AND p.user_id = r.user_id
       WHERE r.sent_at IS NULL AND r.failed_at IS NULL AND r.lease_until <= now()
       ORDER BY r.lease_until LIMIT ${batch}
       FOR UPDATE OF r SKIP LOCKED
    ),
    retried AS (
      UPDATE email_digests e SET lease_until = now() + ${lease}, attempts = e.attempts + 1,
             content = jsonb_set(jsonb_set(e.content, '{items}', x.kept), '{unreadCount}',
               to_jsonb(greatest(jsonb_array_length(x.kept),
                 (e.content->>'unreadCount')::int - (jsonb_array_length(e.content->'items') - jsonb_array_length(x.kept)))))
        FROM expired x
       WHERE e.id = x.id AND x.wanted AND jsonb_array_length(x.kept) > 0 AND x.attempts < ${maxAttempts}
      RETURNING e.id, e.user_id, e.conversation_id, e.recipient, e.content, e.attempts
    ),
    abandoned AS (
      UPDATE email_digests e SET failed_at = now(),
             failure = CASE WHEN NOT x.wanted THEN 'withdrawn: the recipient turned email off, muted or left before it was sent'
                            WHEN jsonb_array_length(x.kept) = 0 THEN 'withdrawn: every message it told of was read or deleted'
                            ELSE ${`not sent after ${settings.maxAttempts} attempts`} END
        FROM expired x
       WHERE e.id = x.id AND (NOT x.wanted OR jsonb_array_length(x.kept) = 0 OR x.attempts >= ${maxAttempts})
      RETURNING 1
    ),
    pruned AS (
      DELETE FROM email_digests e
       WHERE e.id IN (SELECT r.id FROM email_digests r
                       WHERE (r.sent_at IS NOT NULL OR r.failed_at IS NOT NULL) AND r.queued_at < now() - interval '7 days'
                       LIMIT 1000)
      RETURNING 1
    )
    SELECT id, user_id, conversation_id, recipient, content, attempts FROM queued
    UNION ALL
    SELECT id, user_id, conversation_id, recipient, content, attempts FROM retried
  `.execute(d.db);
  return rows.map((row) => ({
    id: row.id,
    userId: row.user_id,
    conversationId: row.conversation_id,
    recipient: row.recipient,
    content: typeof row.content === 'string' ? (JSON.parse(row.content) as DigestContent) : row.content,
    attempts: Number(row.attempts),
  }));
}

/** What became of one claimed email: SES took it (its message id), or refused it for good. */
export type DigestOutcome = { id: string; messageId: string } | { id: string; failure: string };

/** Records sent and failed emails in one statement; emails left out stay claimed until their lease ends. */
export async function settleDigests(d: Domain, outcomes: readonly DigestOutcome[]): Promise<number> {
  if (outcomes.length === 0) return 0;
  const records = outcomes.map((o) =>
    'messageId' in o
      ? { id: o.id, message_id: o.messageId, failure: null }
      : { id: o.id, message_id: null, failure: o.failure.slice(0, 500) },
  );
  const { rows } = await sql<{ settled: string }>`/* digests.settle */
    WITH settled AS (
      UPDATE email_digests e
         SET sent_at = CASE WHEN o.message_id IS NOT NULL THEN now() END,
             ses_message_id = left(o.message_id, 255),
             failed_at = CASE WHEN o.message_id IS NULL THEN now() END,
             failure = o.failure
        FROM jsonb_to_recordset(cast(${JSON.stringify(records)} AS jsonb)) AS o(id uuid, message_id text, failure text)
       WHERE e.id = o.id AND e.sent_at IS NULL AND e.failed_at IS NULL
      RETURNING 1)
    SELECT count(*) AS settled FROM settled
  `.execute(d.db);
  return Number(rows[0]?.settled ?? 0);
}
