import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { text, uuid } from '../db/casts';
import { downloadFilename, HEAD_BYTES, matchesContentType, opensInline, servedContentType } from './attachment-content';
import { type AttachmentFiles, attachmentKey, parseAttachmentKey } from './attachment-files';
import {
  AttachmentTooLargeError,
  AttachmentTypeError,
  ConflictError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
} from './errors';
import { UNATTACHED_ATTACHMENT_HOURS } from './limits';
import { type Domain, retryAfter, windowOf } from './sql';
import type { AttachmentDownload, AttachmentUpload, Caller, CreateAttachmentInput } from './types';

/**
 * Attachments: an upload is started here (a row and a presigned PUT), checked when S3 says the
 * object arrived, sent by messages.send (which takes the ids), downloaded through a presigned
 * GET, and deleted with its message or by the sweep when never sent. The bytes never pass through
 * a function. Each operation is one statement, plus its S3 step after the write.
 */

function filesOf(d: Domain): AttachmentFiles {
  // No bucket bound to this function: a deployment or configuration mistake, not the caller's.
  if (!d.attachments.files) throw new UnavailableError(60);
  return d.attachments.files;
}

const expiresAt = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

/**
 * Starts an upload (the function `attachments_create`, one statement): a participant of an active
 * conversation, a configured type, at most the configured size, within the rate limit. The
 * presigned PUT binds the type and the exact size, so S3 refuses any other bytes.
 */
export async function createAttachment(
  d: Domain,
  caller: Caller,
  conversationId: string,
  input: CreateAttachmentInput,
): Promise<AttachmentUpload> {
  const contentType = input.contentType.toLowerCase();
  const { contentTypes, maxBytes, uploadExpirySeconds } = d.attachments;
  if (!contentTypes.includes(contentType)) throw new AttachmentTypeError([...contentTypes]);
  if (input.size > maxBytes) throw new AttachmentTooLargeError(maxBytes);
  const files = filesOf(d);
  // Signed before the row is written (signing is local work; it fails only without credentials):
  // a failure then leaves nothing behind, and a refusal below wastes only a signature.
  const id = randomUUID();
  const upload = await files
    .presignUpload(attachmentKey(conversationId, id), contentType, input.size, uploadExpirySeconds)
    .catch((error: unknown) => {
      throw new UnavailableError(1, error);
    });
  const { attachmentLimit, attachmentWindowSeconds } = d.limits;
  const { rows } = await sql<{
    outcome: 'created' | 'not_found' | 'closed' | 'rate_limited';
    retry_after: number | null;
  }>`/* attachments.create */
    SELECT outcome, retry_after FROM attachments_create(${uuid(id)}, ${uuid(conversationId)}, ${uuid(caller.userId)},
      ${text(input.filename)}, ${text(contentType)}, ${sql.lit(input.size)}, ${sql.lit(attachmentLimit)},
      ${windowOf(attachmentWindowSeconds)})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'not_found':
      throw new NotFoundError('conversation');
    case 'closed':
      throw new ConflictError('conversation_closed', 'The conversation is closed and accepts no new attachments');
    case 'rate_limited':
      throw new RateLimitedError(retryAfter(row.retry_after, attachmentWindowSeconds), 'attachments');
    case 'created':
      return { id, upload: { method: 'PUT', ...upload }, expiresAt: expiresAt(uploadExpirySeconds) };
  }
}

/**
 * A presigned download (one statement): a checked attachment, to the participants of its
 * conversation once it is in a message (and to admins), and before that to its uploader alone.
 * Everyone else, and anything not checked or deleted, is told it does not exist.
 */
export async function downloadAttachment(d: Domain, caller: Caller, attachmentId: string): Promise<AttachmentDownload> {
  const files = filesOf(d);
  const { rows } = await sql<{
    conversation_id: string;
    filename: string;
    content_type: string;
  }>`/* attachments.download */
    SELECT a.conversation_id, a.filename, a.content_type FROM attachments a
     WHERE a.id = ${uuid(attachmentId)} AND a.state = 'ready'
       AND ((a.message_id IS NOT NULL AND ${caller.isAdmin})
            OR EXISTS (SELECT 1 FROM conversation_participants p
                        WHERE p.conversation_id = a.conversation_id AND p.user_id = ${uuid(caller.userId)}
                          AND (a.message_id IS NOT NULL OR a.uploader_id = p.user_id)))
  `.execute(d.db);
  const row = rows[0];
  if (!row) throw new NotFoundError('attachment');
  const { downloadExpirySeconds } = d.attachments;
  const url = await files.presignDownload(
    attachmentKey(row.conversation_id, attachmentId),
    {
      contentType: servedContentType(row.content_type),
      filename: downloadFilename(row.filename, row.content_type),
      inline: opensInline(row.content_type),
    },
    downloadExpirySeconds,
  );
  return { url, expiresAt: expiresAt(downloadExpirySeconds) };
}

export interface CheckOutcome {
  key: string;
  attachmentId: string | null;
  verdict: 'ready' | 'rejected' | 'unknown' | 'gone';
  reason?: string;
}

/**
 * The check on S3's ObjectCreated (functions/events/on-attachment-uploaded.ts): the object's
 * first bytes, size and type against what its upload declared (one statement). Anything but a
 * match deletes the object. Rejection is final: S3 may deliver an earlier upload's event late
 * or twice, and a second PUT to the same presigned URL may replace good bytes with bad ones, so
 * every event checks the object as it is now and nothing turns a rejected attachment ready.
 */
export async function checkUploadedAttachment(d: Domain, eventKey: string): Promise<CheckOutcome> {
  const files = filesOf(d);
  const ids = parseAttachmentKey(eventKey);
  if (!ids) return { key: eventKey, attachmentId: null, verdict: 'unknown', reason: 'not an attachment key' };
  const key = attachmentKey(ids.conversationId, ids.attachmentId);
  const object = await files.readHead(key, HEAD_BYTES);
  if (!object) return { key, attachmentId: ids.attachmentId, verdict: 'gone' };
  const complete = object.head.length >= object.size;
  const contentType = object.contentType?.toLowerCase() ?? '';
  const reason = object.contentEncoding
    ? `the upload declared Content-Encoding ${object.contentEncoding}`
    : matchesContentType(contentType, object.head, complete)
      ? null
      : `the content is not ${contentType || 'of a known type'}`;
  const { rows } = await sql<{ state: 'ready' | 'rejected'; rejection: string | null }>`/* attachments.check */
    UPDATE attachments a
       SET state = CASE WHEN ${reason === null} AND a.size = ${sql.lit(object.size)} AND a.content_type = ${text(contentType)}
                        THEN 'ready' ELSE 'rejected' END,
           rejection = CASE WHEN a.size <> ${sql.lit(object.size)} THEN 'the size is not the declared one'
                            WHEN a.content_type <> ${text(contentType)} THEN 'the type is not the declared one'
                            ELSE ${text(reason)} END,
           checked_at = now()
     WHERE a.id = ${uuid(ids.attachmentId)} AND a.conversation_id = ${uuid(ids.conversationId)}
       AND a.state IN ('pending', 'ready')
    RETURNING a.state, a.rejection
  `.execute(d.db);
  const checked = rows[0];
  if (checked?.state === 'ready') return { key, attachmentId: ids.attachmentId, verdict: 'ready' };
  // Rejected now or before, swept, or never started here: the object must not stay.
  const failed = await files.remove([key]);
  // Thrown so that Lambda retries: the object must not stay.
  if (failed.length) throw new Error(`could not delete the refused object ${key}`);
  return {
    key,
    attachmentId: ids.attachmentId,
    verdict: checked ? 'rejected' : 'unknown',
    reason: checked?.rejection ?? 'no upload in progress under this key',
  };
}

/** Rows the sweep takes per round: DeleteObjects deletes at most 1,000 keys per call. */
const SWEEP_BATCH = 1000;

/**
 * Deletes uploads never sent within UNATTACHED_ATTACHMENT_HOURS and deleted messages'
 * attachments: marks the expired ones deleted (the send locks the rows it takes, so a send and
 * the sweep never both win one), deletes the objects, and only then the rows, so a crash
 * between the two leaves rows for the next sweep rather than objects nobody knows of. Two
 * statements per round; concurrent sweeps delete the same objects twice, which S3 allows.
 */
export async function sweepAttachments(d: Domain): Promise<{ deleted: number }> {
  const files = filesOf(d);
  let deleted = 0;
  for (;;) {
    const { rows } = await sql<{ id: string; conversation_id: string }>`/* attachments.sweep_claim */
      WITH expired AS (
        UPDATE attachments a SET state = 'deleted'
         WHERE a.id IN (SELECT x.id FROM attachments x
                         WHERE x.message_id IS NULL AND x.state <> 'deleted'
                           AND x.created_at < now() - make_interval(hours => ${sql.lit(UNATTACHED_ATTACHMENT_HOURS)})
                         ORDER BY x.created_at LIMIT ${sql.lit(SWEEP_BATCH)} FOR UPDATE SKIP LOCKED)
        RETURNING a.id, a.conversation_id)
      SELECT id, conversation_id FROM expired
      UNION ALL
      (SELECT a.id, a.conversation_id FROM attachments a WHERE a.state = 'deleted' ORDER BY a.created_at LIMIT ${sql.lit(SWEEP_BATCH)})
    `.execute(d.db);
    if (rows.length === 0) return { deleted };
    const failed = new Set(await files.remove(rows.map((a) => attachmentKey(a.conversation_id, a.id))));
    // Only the rows whose objects are gone; the others wait for the next sweep.
    const gone = rows.filter((a) => !failed.has(attachmentKey(a.conversation_id, a.id))).map((a) => a.id);
    if (failed.size)
      console.warn(JSON.stringify({ level: 'warn', message: 'attachment objects not deleted', failed: [...failed] }));
    // Locked in id order, skipping rows another sweep holds: two sweeps never wait on each other.
    const forgotten = await sql<{ id: string }>`/* attachments.sweep_forget */
      DELETE FROM attachments a
       WHERE a.id IN (SELECT x.id FROM attachments x
                       WHERE x.id IN (SELECT e::uuid FROM jsonb_array_elements_text(cast(${JSON.stringify(gone)} AS jsonb)) e)
                         AND x.state = 'deleted'
                       ORDER BY x.id FOR UPDATE SKIP LOCKED)
      RETURNING a.id
    `.execute(d.db);
    deleted += forgotten.rows.length;
    // A full batch that deleted nothing is one that failed: stop rather than retry it at once.
    if (rows.length < SWEEP_BATCH || forgotten.rows.length === 0) return { deleted };
  }
}
