import type { S3Client } from '@aws-sdk/client-s3';

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
  headers: Record<string, string>;
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
 * S3 through the AWS SDK. The SDK is imported when first used, not when the module loads: only
 * the functions that touch the bucket pay for loading it, and the functions that bundle this
 * module without calling it (every route of lib/messaging/messages.ts) start as fast as before.
 */
export class S3AttachmentFiles implements AttachmentFiles {
  private client: Promise<S3Client> | undefined;

  constructor(
    private readonly bucket: string,
    /** A path-style endpoint instead of AWS's (the local stack's). */
    private readonly endpoint?: string,
  ) {}

  private s3(): Promise<S3Client> {
    this.client ??= import('@aws-sdk/client-s3').then(
      ({ S3Client }) =>
        new S3Client({
          ...(this.endpoint ? { endpoint: this.endpoint, forcePathStyle: true } : {}),
          // Checksums only where S3 requires them (DeleteObjects): the presigned requests are
          // made for clients that send plain bytes, with nothing but the signed headers.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }),
    );
    return this.client;
  }

  async presignUpload(key: string, contentType: string, size: number, expiresIn: number): Promise<PresignedUpload> {
    const [{ PutObjectCommand }, { getSignedUrl }, client] = await Promise.all([
      import('@aws-sdk/client-s3'),
      import('@aws-sdk/s3-request-presigner'),
      this.s3(),
    ]);
    // `If-None-Match: *` (an S3 conditional write): the URL creates the object once and can never
    // replace checked bytes with others of the same size and type.
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ContentType: contentType,
      ContentLength: size,
      IfNoneMatch: '*',
    });
    // Signed as headers: S3 then refuses any other type, length or a dropped condition
    // (content-length is signed by default; the presigner leaves content-type out unless asked).
    const url = await getSignedUrl(client, command, {
      expiresIn,
      signableHeaders: new Set(['content-type', 'content-length', 'if-none-match']),
    });
    return {
      url,
      headers: { 'Content-Type': contentType, 'Content-Length': String(size), 'If-None-Match': '*' },
    };
  }

  async presignDownload(key: string, download: DownloadHeaders, expiresIn: number): Promise<string> {
    const [{ GetObjectCommand }, { getSignedUrl }, client] = await Promise.all([
      import('@aws-sdk/client-s3'),
      import('@aws-sdk/s3-request-presigner'),
      this.s3(),
    ]);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentType: download.contentType,
      ResponseContentDisposition: contentDisposition(download),
    });
    return getSignedUrl(client, command, { expiresIn });
  }

  async readHead(key: string, bytes: number): Promise<ObjectHead | null> {
    const [{ GetObjectCommand }, client] = await Promise.all([import('@aws-sdk/client-s3'), this.s3()]);
    try {
      const answer = await client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }),
      );
      const head = answer.Body ? await answer.Body.transformToByteArray() : new Uint8Array();
      // A ranged answer says the whole size after the slash: `bytes 0-1023/48213`.
      const total = Number(answer.ContentRange?.split('/')[1] ?? answer.ContentLength ?? Number.NaN);
      if (!Number.isSafeInteger(total)) throw new Error(`S3 answered no size for ${key}: ${answer.ContentRange}`);
      return { size: total, contentType: answer.ContentType, contentEncoding: answer.ContentEncoding, head };
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  async remove(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const [{ DeleteObjectsCommand }, client] = await Promise.all([import('@aws-sdk/client-s3'), this.s3()]);
    const failed: string[] = [];
    // DeleteObjects takes at most 1,000 keys.
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      const answer = await client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      for (const error of answer.Errors ?? []) if (error.Key) failed.push(error.Key);
    }
    return failed;
  }
}
