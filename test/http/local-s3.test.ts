import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Event } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalS3 } from '../../lib/local/local-s3';

/**
 * The local S3 endpoint against the real SDK and presigner, over HTTP: what the attachment flow
 * relies on (a presigned PUT binds size and type, a presigned GET overrides the download's headers,
 * the SDK's HeadObject / ranged GetObject / DeleteObject(s) / ListObjectsV2, the ObjectCreated
 * notification), and what S3 refuses, refused with S3's codes.
 */
const bucket = 'attachments-local';
const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIALOCALS3TEST', secretAccessKey: 'local-s3-secret' };
const appOrigin = 'http://localhost:5173';

let server: Server;
let endpoint: string;
let root: string;
let s3: LocalS3;
let clock: Date | undefined;
let onCreated: (event: S3Event) => Promise<unknown>;
/** The client that presigns URLs, and one with the SDK's defaults, as the functions' calls use. */
let presigner: S3Client;
let sdk: S3Client;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'local-s3-'));
  s3 = new LocalS3({
    bucket,
    region,
    directory: join(root, 'objects'),
    credentials: { [credentials.accessKeyId]: credentials.secretAccessKey },
    corsOrigins: [appOrigin],
    onObjectCreated: (event) => onCreated(event),
    now: () => clock ?? new Date(),
  });
  // As the local stack routes: the bucket's requests to LocalS3, everything else elsewhere (a 404
  // here); /other-bucket/ goes to LocalS3 too, to see what it answers for a bucket it does not serve.
  server = createServer((req, res) => {
    if (s3.handles(req) || req.url?.startsWith('/other-bucket/')) void s3.handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The presigning client must not compute request checksums: by default (WHEN_SUPPORTED) the SDK
  // puts the CRC32 of the empty body it presigns into the URL (x-amz-checksum-crc32=AAAAAA==), and
  // S3 refuses the upload of any real content with BadDigest (see the test that proves it).
  presigner = client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  sdk = client();
});
afterAll(async () => {
  await s3?.settled();
  server?.close();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  clock = undefined;
  onCreated = async () => {};
});

/** maxAttempts 1: an error is the answer, not a retry (the SDK would also correct a skewed clock). */
function client(config: Partial<S3ClientConfig> = {}) {
  return new S3Client({ region, endpoint, forcePathStyle: true, credentials, maxAttempts: 1, ...config });
}

/**
 * The presigned PUT the service hands out. `content-length` is signed as a header by default;
 * `content-type` only when named in `signableHeaders` (the presigner otherwise lists it as
 * unsignable). Both signed, the upload must send exactly that size and type.
 */
function presignPut(key: string, type: string, size: number, options: Parameters<typeof getSignedUrl>[2] = {}) {
  const command = new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: type, ContentLength: size });
  return getSignedUrl(presigner, command, { expiresIn: 300, signableHeaders: new Set(['content-type']), ...options });
}

const md5 = (body: Buffer | string) => createHash('md5').update(body).digest('hex');

async function call(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  const text = await response.text();
  const element = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
  return {
    status: response.status,
    headers: response.headers,
    text,
    code: element('Code'),
    message: element('Message'),
  };
}

const put = (url: string, body: string | Buffer, type?: string) =>
  call(url, { method: 'PUT', body, headers: type ? { 'content-type': type } : {} });

async function exists(key: string): Promise<boolean> {
  return sdk.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    (e: Error) => (e.name === 'NotFound' ? false : Promise.reject(e)),
  );
}

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail('resolved'),
    (e: Error) => e,
  );

describe('presigned URLs', () => {
  it('a presigned PUT binds size and type, and a presigned GET reads the object back with its overrides', async () => {
    const key = 'uploads/photo 1.png';
    const body = randomBytes(1000);
    const url = await presignPut(key, 'image/png', body.length);
    expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect(url).not.toMatch(/checksum/i);

    const stored = await put(url, body, 'image/png');
    expect(stored.status).toBe(200);
    expect(stored.headers.get('etag')).toBe(`"${md5(body)}"`);

    const download = new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ResponseContentDisposition: 'attachment; filename="photo 1.png"',
      ResponseContentType: 'application/octet-stream',
      ResponseCacheControl: 'private, max-age=60',
    });
    const got = await fetch(await getSignedUrl(presigner, download, { expiresIn: 60 }));
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
    expect(got.headers.get('content-disposition')).toBe('attachment; filename="photo 1.png"');
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('cache-control')).toBe('private, max-age=60');
    const plain = await fetch(await getSignedUrl(presigner, new GetObjectCommand({ Bucket: bucket, Key: key })));
    expect(plain.headers.get('content-type')).toBe('image/png');
    expect(plain.headers.get('content-disposition')).toBeNull();
    await plain.arrayBuffer();
  });

  it('refuses a tampered signature, key or expiry, and stores nothing', async () => {
    const url = new URL(await presignPut('tampered.txt', 'text/plain', 5));
    const signature = url.searchParams.get('X-Amz-Signature')!;
    const tampered = [
      (u: URL) => u.searchParams.set('X-Amz-Signature', (signature[0] === 'a' ? 'b' : 'a') + signature.slice(1)),
      (u: URL) => {
        u.pathname = u.pathname.replace('tampered.txt', 'tampered.exe');
      },
      (u: URL) => u.searchParams.set('X-Amz-Expires', '604800'),
    ];
    for (const change of tampered) {
      const u = new URL(url);
      change(u);
      const answer = await put(u.href, 'hello', 'text/plain');
      expect([answer.status, answer.code]).toEqual([403, 'SignatureDoesNotMatch']);
    }
    const tooLong = new URL(url);
    tooLong.searchParams.set('X-Amz-Expires', '604801');
    const answer = await put(tooLong.href, 'hello', 'text/plain');
    expect([answer.status, answer.code]).toEqual([400, 'AuthorizationQueryParametersError']);
    expect(answer.message).toBe('X-Amz-Expires must be less than a week (in seconds) that is 604800');
    expect(await exists('tampered.txt')).toBe(false);
    expect(await exists('tampered.exe')).toBe(false);
  });

  it('refuses more bytes, fewer bytes or another type than were signed', async () => {
    const url = await presignPut('bound.txt', 'text/plain', 5);
    for (const [body, type] of [
      ['hello!', 'text/plain'],
      ['hell', 'text/plain'],
      ['hello', 'text/html'],
    ] as const) {
      const answer = await put(url, body, type);
      expect([answer.status, answer.code]).toEqual([403, 'SignatureDoesNotMatch']);
      expect(await exists('bound.txt')).toBe(false);
    }
    expect((await put(url, 'hello', 'text/plain')).status).toBe(200);
  });

  it('refuses an expired URL and one dated more than 15 minutes ahead', async () => {
    const url = await presignPut('late.txt', 'text/plain', 5, { expiresIn: 60 });
    clock = new Date(Date.now() + 61_000);
    const expired = await put(url, 'hello', 'text/plain');
    expect([expired.status, expired.code, expired.message]).toEqual([403, 'AccessDenied', 'Request has expired']);
    clock = undefined;
    const early = await presignPut('late.txt', 'text/plain', 5, { signingDate: new Date(Date.now() + 20 * 60_000) });
    const notYet = await put(early, 'hello', 'text/plain');
    expect([notYet.status, notYet.code, notYet.message]).toEqual([403, 'AccessDenied', 'Request is not yet valid']);
    expect(await exists('late.txt')).toBe(false);
  });

  it('stores an unspecified type as binary/octet-stream; a default-checksum presigner makes URLs S3 refuses', async () => {
    const untyped = await getSignedUrl(
      presigner,
      new PutObjectCommand({ Bucket: bucket, Key: 'untyped', ContentLength: 3 }),
    );
    expect((await put(untyped, Buffer.from('abc'))).status).toBe(200);
    expect((await sdk.send(new HeadObjectCommand({ Bucket: bucket, Key: 'untyped' }))).ContentType).toBe(
      'binary/octet-stream',
    );

    const command = new PutObjectCommand({
      Bucket: bucket,
      Key: 'crc.txt',
      ContentType: 'text/plain',
      ContentLength: 5,
    });
    const url = await getSignedUrl(sdk, command, { signableHeaders: new Set(['content-type']) });
    expect(new URL(url).searchParams.get('x-amz-checksum-crc32')).toBe('AAAAAA==');
    const answer = await put(url, 'hello', 'text/plain');
    expect([answer.status, answer.code]).toEqual([400, 'BadDigest']);
    expect(await exists('crc.txt')).toBe(false);
  });

  it('answers MissingContentLength to a PUT without Content-Length', async () => {
    const url = new URL(await getSignedUrl(presigner, new PutObjectCommand({ Bucket: bucket, Key: 'chunked' })));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('abc');
    });
    expect(status).toBe(411);
    expect(await exists('chunked')).toBe(false);
  });
});

describe('authentication', () => {
  const get = (c: S3Client) => c.send(new GetObjectCommand({ Bucket: bucket, Key: 'anything' }));

  it('refuses unknown keys, wrong secrets, other regions and unsigned requests', async () => {
    const unknown = client({ credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' } });
    expect((await errorOf(get(unknown))).name).toBe('InvalidAccessKeyId');
    const wrongSecret = client({ credentials: { ...credentials, secretAccessKey: 'wrong' } });
    expect((await errorOf(get(wrongSecret))).name).toBe('SignatureDoesNotMatch');
    const elsewhere = await errorOf(get(client({ region: 'us-east-1' })));
    expect([elsewhere.name, elsewhere.message]).toEqual([
      'AuthorizationHeaderMalformed',
      "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'",
    ]);
    const presignedElsewhere = client({ region: 'us-east-1', requestChecksumCalculation: 'WHEN_REQUIRED' });
    const command = new GetObjectCommand({ Bucket: bucket, Key: 'anything' });
    expect((await call(await getSignedUrl(presignedElsewhere, command))).code).toBe(
      'AuthorizationQueryParametersError',
    );

    const anonymous = await call(`${endpoint}/${bucket}/anything`);
    expect([anonymous.status, anonymous.code, anonymous.message]).toEqual([403, 'AccessDenied', 'Access Denied']);
    expect((await put(`${endpoint}/${bucket}/anonymous.txt`, 'hello')).status).toBe(403);
    expect(await exists('anonymous.txt')).toBe(false);
  });

  it('refuses a request whose time is more than 15 minutes off', async () => {
    clock = new Date(Date.now() + 16 * 60_000);
    expect((await errorOf(get(sdk))).name).toBe('RequestTimeTooSkewed');
    clock = new Date(Date.now() + 14 * 60_000);
    expect((await errorOf(get(sdk))).name).toBe('NoSuchKey');
  });

  it('refuses a body that is not the one signed or checksummed, and stores nothing', async () => {
    const tamperer = client();
    // After signing, the body is swapped for one of the same length: only the server's hash can tell.
    tamperer.middlewareStack.addRelativeTo(
      (next: (args: any) => Promise<any>) => async (args: any) =>
        next({ ...args, request: { ...args.request, body: Buffer.from('HELLO') } }),
      { relation: 'after', toMiddleware: 'httpSigningMiddleware' },
    );
    const swapped = await errorOf(
      tamperer.send(new PutObjectCommand({ Bucket: bucket, Key: 'sum.txt', Body: 'hello' })),
    );
    expect(swapped.name).toBe('XAmzContentSHA256Mismatch');
    const crc = new PutObjectCommand({ Bucket: bucket, Key: 'sum.txt', Body: 'hello', ChecksumCRC32: 'AAAAAA==' });
    expect((await errorOf(sdk.send(crc))).name).toBe('BadDigest');
    const md5Header = new PutObjectCommand({ Bucket: bucket, Key: 'sum.txt', Body: 'hello', ContentMD5: md5('other') });
    expect((await errorOf(sdk.send(md5Header))).name).toBe('InvalidDigest');
    const wrongMd5 = createHash('md5').update('other').digest('base64');
    const md5Command = new PutObjectCommand({ Bucket: bucket, Key: 'sum.txt', Body: 'hello', ContentMD5: wrongMd5 });
    expect((await errorOf(sdk.send(md5Command))).name).toBe('BadDigest');
    expect(await exists('sum.txt')).toBe(false);
  });
});

describe("the SDK calls the service's functions make", () => {
  it('HeadObject, ranged and whole GetObject, DeleteObject, NoSuchKey', async () => {
    const body = randomBytes(100);
    const key = 'sdk/file.bin';
    const stored = await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    expect(stored.ETag).toBe(`"${md5(body)}"`);
    const head = await sdk.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect([head.ContentLength, head.ETag, head.ContentType]).toEqual([100, stored.ETag, 'application/octet-stream']);

    const first = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-15' }));
    expect([first.$metadata.httpStatusCode, first.ContentRange, first.ContentLength]).toEqual([
      206,
      'bytes 0-15/100',
      16,
    ]);
    expect(Buffer.from(await first.Body!.transformToByteArray()).equals(body.subarray(0, 16))).toBe(true);
    // The whole object comes with the CRC32 it was stored with, which the SDK validates.
    const whole = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(whole.ChecksumCRC32).toBeDefined();
    expect(Buffer.from(await whole.Body!.transformToByteArray()).equals(body)).toBe(true);
    const beyond = await errorOf(sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=100-' })));
    expect([beyond.name, (beyond as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode]).toEqual([
      'InvalidRange',
      416,
    ]);

    for (let i = 0; i < 2; i++) {
      const deleted = await sdk.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      expect(deleted.$metadata.httpStatusCode).toBe(204);
    }
    expect((await errorOf(sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key })))).name).toBe('NoSuchKey');
  });

  it('takes a streamed upload (aws-chunked, CRC32 trailer) as the SDK sends a stream body', async () => {
    const body = randomBytes(20_000);
    const stream = Readable.from([body.subarray(0, 10_000), body.subarray(10_000)]);
    await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: 'streamed', Body: stream, ContentLength: body.length }));
    const got = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(got.ContentEncoding).toBeUndefined();
  });

  it('ListObjectsV2 pages by prefix and max-keys; DeleteObjects deletes', async () => {
    const keys = ['list/b', 'list/a', 'list/c'];
    for (const key of [...keys, 'listed-not'])
      await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const page = await sdk.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/', MaxKeys: 2 }));
    expect([page.KeyCount, page.IsTruncated, page.Contents?.map((o) => o.Key)]).toEqual([
      2,
      true,
      ['list/a', 'list/b'],
    ]);
    expect(page.Contents?.[0]?.Size).toBe(6);
    const next = await sdk.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/', ContinuationToken: page.NextContinuationToken }),
    );
    expect([next.IsTruncated, next.Contents?.map((o) => o.Key)]).toEqual([false, ['list/c']]);
    const listing = new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/' });
    expect((await call(await getSignedUrl(presigner, listing))).text).toContain('<KeyCount>3</KeyCount>');

    const Objects = [...keys, 'list/never-stored'].map((Key) => ({ Key }));
    const deleted = await sdk.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects } }));
    expect(deleted.Deleted?.map((d) => d.Key).sort()).toEqual(Objects.map((o) => o.Key).sort());
    expect((await sdk.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/' }))).KeyCount).toBe(0);
    expect(await exists('listed-not')).toBe(true);
  });

  it('answers NotImplemented for what it does not emulate (GetObjectAcl), NoSuchBucket for another bucket', async () => {
    expect((await errorOf(sdk.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'untyped' })))).name).toBe(
      'NotImplemented',
    );
    const other = await errorOf(sdk.send(new GetObjectCommand({ Bucket: 'other-bucket', Key: 'k' })));
    expect(other.name).toBe('NoSuchBucket');
  });
});

describe('keys', () => {
  it('stores keys with spaces, unicode and ../ as keys, inside the directory and nowhere else', async () => {
    const keys = [
      'with space.txt',
      'ünïcødé/文件 😀.txt',
      '../escape.txt',
      'a/../../../../etc/passwd',
      'x+y=z&?#%.txt',
    ];
    for (const key of keys) await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `of ${key}` }));
    for (const key of keys) {
      const got = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(await got.Body!.transformToString()).toBe(`of ${key}`);
    }
    const presigned = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: bucket, Key: keys[1] }));
    expect((await call(presigned)).text).toBe(`of ${keys[1]}`);
    const listed = await sdk.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(expect.arrayContaining(keys));
    expect(readdirSync(root)).toEqual(['objects']);
    expect(readdirSync(join(root, 'objects')).every((name) => /^[0-9a-f]{64}$/.test(name))).toBe(true);
  });
});

describe('ObjectCreated notifications', () => {
  it('delivers the documented record after the response, and none for a refused PUT', async () => {
    const events: S3Event[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    onCreated = async (event) => {
      await gate;
      events.push(event);
    };
    const key = 'photos/red flower (1).jpg';
    const body = Buffer.from('a red flower');
    // The PUT is answered while the handler is still waiting: delivery does not hold the response.
    const stored = await put(await presignPut(key, 'image/jpeg', body.length), body, 'image/jpeg');
    expect(stored.status).toBe(200);
    expect(events).toHaveLength(0);
    release();
    await s3.settled();
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      Records: [
        {
          eventVersion: '2.1',
          eventSource: 'aws:s3',
          awsRegion: region,
          eventTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          eventName: 'ObjectCreated:Put',
          userIdentity: { principalId: `AWS:${credentials.accessKeyId}` },
          requestParameters: { sourceIPAddress: '127.0.0.1' },
          responseElements: {
            'x-amz-request-id': stored.headers.get('x-amz-request-id'),
            'x-amz-id-2': stored.headers.get('x-amz-id-2'),
          },
          s3: {
            s3SchemaVersion: '1.0',
            configurationId: expect.any(String),
            bucket: { name: bucket, ownerIdentity: { principalId: expect.any(String) }, arn: `arn:aws:s3:::${bucket}` },
            object: {
              key: 'photos/red+flower+%281%29.jpg',
              size: body.length,
              eTag: md5(body),
              sequencer: expect.stringMatching(/^[0-9A-F]{16,}$/),
            },
          },
        },
      ],
    });
    const encoded = events[0]!.Records[0]!.s3.object.key;
    expect(decodeURIComponent(encoded.replace(/\+/g, ' '))).toBe(key);

    expect((await put(await presignPut('refused.jpg', 'image/jpeg', 3), 'abcd', 'image/jpeg')).status).toBe(403);
    await s3.settled();
    expect(events).toHaveLength(1);
  });

  it('logs a failing handler in one line and answers the PUT as if it had not failed', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    onCreated = async () => {
      throw new Error('handler broke');
    };
    try {
      const stored = await put(await presignPut('broken.txt', 'text/plain', 5), 'hello', 'text/plain');
      expect(stored.status).toBe(200);
      await s3.settled();
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0]?.[0])).toMatch(/^\{.*S3 notification handler failed.*handler broke.*\}$/);
    } finally {
      logged.mockRestore();
    }
  });
});

describe('CORS and routing', () => {
  const preflight = (origin: string, method: string) =>
    call(`${endpoint}/${bucket}/uploads/x.png`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'content-type' },
    });

  it('answers preflights for the allowed origin and its methods only, as S3 answers them', async () => {
    const allowed = await preflight(appOrigin, 'PUT');
    expect(allowed.status).toBe(200);
    expect(Object.fromEntries([...allowed.headers].filter(([name]) => name.startsWith('access-control-')))).toEqual({
      'access-control-allow-origin': appOrigin,
      'access-control-allow-methods': 'PUT, GET, HEAD',
      'access-control-allow-headers': 'content-type',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'ETag',
      'access-control-max-age': '3000',
    });
    for (const refused of [await preflight('https://evil.example', 'PUT'), await preflight(appOrigin, 'DELETE')]) {
      expect([refused.status, refused.code]).toEqual([403, 'AccessForbidden']);
      expect(refused.message).toMatch(/^CORSResponse: This CORS request is not allowed/);
    }
    expect((await preflight('https://evil.example', 'PUT')).headers.get('access-control-allow-origin')).toBeNull();

    const url = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: bucket, Key: 'untyped' }));
    const fromApp = await call(url, { headers: { origin: appOrigin } });
    expect([fromApp.headers.get('access-control-allow-origin'), fromApp.headers.get('vary')]).toEqual([
      appOrigin,
      'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
    ]);
    expect(
      (await call(url, { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin'),
    ).toBeNull();
  });

  it("claims the bucket's paths and no others", async () => {
    const claims = (url: string) => s3.handles({ url, method: 'GET', headers: {} } as IncomingMessage);
    expect([`/${bucket}`, `/${bucket}/k`, `/${bucket}?list-type=2`].filter((url) => !claims(url))).toEqual([]);
    const others = [
      '/v1/messages/unread',
      '/ws',
      '/local/stats',
      '/.well-known/jwks.json',
      `/${bucket}x/k`,
      `/x/${bucket}`,
    ];
    expect(others.filter(claims)).toEqual([]);
    expect((await call(`${endpoint}/v1/messages/unread`)).status).toBe(404);
  });
});
