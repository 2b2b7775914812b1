import type { Domain } from './sql';

/**
 * The attachments bucket as the domain uses it: presigned uploads and downloads, the first bytes
 * of an upload for the check, and deletion. The S3 implementation below; a function without an
 * attachments binding has none, and the routes that need it answer 503.
 */
export interface AttachmentFiles {
  /** A presigned PUT that S3 accepts only with exactly this Content-Type and Content-Length. */
  presignUpload(key: string, contentType: string, size: number, expiresInSeconds: number): Promise<PresignedUpload>;
  /** A presigned GET answering with this type and disposition. */
  presignDownload(key: string, download: DownloadHeaders, expiresInSeconds: number): Promise<string>;
  /** The stored size, type and first `bytes` bytes; null when there is no such object. */
  readHead(key: string, bytes: number): Promise<ObjectHead | null>;
  /**
   * Deletes objects; keys that do not exist are not an error (S3's DeleteObjects). Answers the
   * keys S3 could not delete, so one bad key never holds up the others.
   */
  remove(keys: readonly string[]): Promise<string[]>;
}

export interface PresignedUpload {
  url: string;
  /** What the client must send: the signature covers them. */
  headers: UploadHeaders;
}

export interface UploadHeaders {
  'Content-Type': string;
  'Content-Length': string;
  /** The URL creates the object once (S3's conditional write). */
  'If-None-Match': '*';
}

export interface DownloadHeaders {
  contentType: string;
  filename: string;
  inline: boolean;
}

export interface ObjectHead {
  size: number;
  contentType: string | undefined;
  /** Set when the uploader sent Content-Encoding: a browser would decode bytes the check never saw. */
  contentEncoding: string | undefined;
  head: Uint8Array;
}

/**
 * An attachment's object key: chosen by the server, never by the uploader, and in one spelling
 * (ids in lower case, as PostgreSQL writes them), whichever case a client typed an id in.
 */
export const attachmentKey = (conversationId: string, attachmentId: string) =>
  `attachments/${conversationId.toLowerCase()}/${attachmentId.toLowerCase()}`;

const keyPattern = /^attachments\/([0-9a-f-]{36})\/([0-9a-f-]{36})$/;

/** The ids in an object key (S3 events URL-encode keys, spaces as `+`), or null when it is not an attachment's. */
export function parseAttachmentKey(eventKey: string): { conversationId: string; attachmentId: string } | null {
  let key: string;
  try {
    key = decodeURIComponent(eventKey.replaceAll('+', ' '));
  } catch {
    return null;
  }
  const match = keyPattern.exec(key);
  return match ? { conversationId: match[1]!, attachmentId: match[2]! } : null;
}

/**
 * `Content-Disposition` with the file's name (RFC 6266): a quoted ASCII fallback, and the exact
 * name in UTF-8 as `filename*` (RFC 8187), which every current browser prefers.
 */
export function contentDisposition({ filename, inline }: DownloadHeaders): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const exact = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${inline ? 'inline' : 'attachment'}; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

/**
 * A deleted message's attachments: their objects go right after the write, as a push does (the
 * sweep deletes again what this could not). Here, not in attachments.ts, so that the message
 * functions do not carry the upload check.
 */
export async function removeAttachmentObjects(
  d: Domain,
  removed: ReadonlyArray<{ id: string; conversation_id: string }>,
): Promise<void> {
  if (removed.length === 0 || !d.attachments.files) return;
  const failed = await d.attachments.files
    .remove(removed.map((a) => attachmentKey(a.conversation_id, a.id)))
    .catch((error: unknown) => [error instanceof Error ? `${error.name}: ${error.message}` : String(error)]);
  if (failed.length) console.warn(JSON.stringify({ level: 'warn', message: 'attachment objects not deleted', failed }));
}
