import type { S3Client } from '@aws-sdk/client-s3';
import { config } from '../function-config';
import {
  type AttachmentFiles,
  contentDisposition,
  type DownloadHeaders,
  type ObjectHead,
  type PresignedUpload,
} from './attachment-files';
import type { Domain } from './sql';

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

let shared: S3AttachmentFiles | undefined;

/**
 * The domain with the bucket the function is bound to (ATTACHMENTS_BUCKET), for the functions
 * that touch it: their handlers ask for it, so that no other function's bundle carries the S3
 * code. Without a binding the domain has no bucket, and the attachment operations answer 503.
 */
export function withAttachmentFiles(d: Domain): Domain {
  const { bucket, endpoint } = config.attachments;
  if (!bucket) return d;
  shared ??= new S3AttachmentFiles(bucket, endpoint);
  return { ...d, attachments: { ...d.attachments, files: shared } };
}
