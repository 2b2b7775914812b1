import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { link, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { S3Event } from 'aws-lambda';
import {
  type Authenticated,
  authenticate,
  isoSeconds,
  type RequestTarget,
  S3Error,
  s3Error,
} from './local-s3-signature';

/**
 * One S3 bucket, locally and path-style (`PUT /<bucket>/<key>`), for the real `@aws-sdk/client-s3`
 * and presigned URLs: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects and
 * ListObjectsV2, answered as S3 answers them (XML errors, S3's codes and statuses) and checked as S3
 * checks them: SigV4 on every request (./local-s3-signature.ts), x-amz-content-sha256, Content-MD5
 * and x-amz-checksum-*, the bucket's CORS rule. A PutObject is notified as S3 notifies
 * ObjectCreated:Put, after the response. What is not emulated answers 501 NotImplemented rather
 * than half an emulation. Call `handles(req)` before reading the body: `handle` reads it itself.
 */
export interface LocalS3Options {
  bucket: string;
  region: string;
  /** Objects live here, one file each named by the key's SHA-256; created if missing. */
  directory: string;
  /** accessKeyId → secretAccessKey. */
  credentials: Record<string, string>;
  /** Origins allowed to PUT, GET and HEAD from browsers: the bucket's CORS rule. */
  corsOrigins?: string[];
  onObjectCreated?: (event: S3Event) => Promise<unknown>;
  now?: () => Date;
}

interface StoredObject {
  key: string;
  size: number;
  /** MD5 hex, unquoted. */
  etag: string;
  lastModified: string;
  contentType: string;
  /** What S3 keeps with an object and returns on GET and HEAD: cache-control… and x-amz-meta-*. */
  headers: Record<string, string>;
  checksum?: { name: string; value: string };
}

type Headers = Record<string, string>;

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const OWNER_ID = 'A1LOCALBUCKETOWNER';
const CORS_METHODS = ['PUT', 'GET', 'HEAD'];
/** The headers a GET's response-* parameters override. */
const OVERRIDES = [
  'content-type',
  'content-language',
  'expires',
  'cache-control',
  'content-disposition',
  'content-encoding',
];
const KEPT_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'];
/** The checksums S3 verifies that node:crypto and node:zlib compute; CRC32C and CRC64NVME answer NotImplemented. */
const CHECKSUMS: Record<string, (body: Buffer) => Buffer> = {
  crc32: (body) => Buffer.from(crc32(body).toString(16).padStart(8, '0'), 'hex'),
  sha1: (body) => createHash('sha1').update(body).digest(),
  sha256: (body) => createHash('sha256').update(body).digest(),
};
const CHECKSUM_HEADER = /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/;
/** The x-amz-* headers each operation takes (besides x-amz-meta-*); any other implies what is not emulated. */
const COMMON = /^x-amz-(content-sha256|date|security-token|user-agent)$/;
const ACCEPTED: Record<string, RegExp> = {
  PutObject: /^x-amz-(checksum-\w+|sdk-checksum-algorithm|decoded-content-length|trailer)$/,
  GetObject: /^x-amz-checksum-mode$/,
  HeadObject: /^x-amz-checksum-mode$/,
  DeleteObjects: /^x-amz-(checksum-\w+|sdk-checksum-algorithm)$/,
};
const OBJECT_OPERATIONS: Record<string, string> = {
  PUT: 'PutObject',
  GET: 'GetObject',
  HEAD: 'HeadObject',
  DELETE: 'DeleteObject',
};
/** Query parameters that make a request on an object another operation (ACLs, tagging, multipart, versions…). */
const SUBRESOURCES =
  /^(acl|attributes|legal-hold|partNumber|renameObject|restore|retention|select|tagging|torrent|uploadId|uploads|versionId)$/;

export class LocalS3 {
  private readonly pending = new Set<Promise<void>>();
  private readonly now: () => Date;
  private sequence = 0;

  constructor(private readonly options: LocalS3Options) {
    this.now = options.now ?? (() => new Date());
    mkdirSync(options.directory, { recursive: true });
  }

  /** True when the request is for this endpoint: path-style, first path segment = the bucket name. */
  handles(req: IncomingMessage): boolean {
    return (req.url ?? '/').split('?')[0]!.split('/')[1] === this.options.bucket;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = new Reply(req, res, this.corsHeaders(req.headers.origin), this.now());
    try {
      await this.serve(req, reply);
    } catch (error) {
      // A client that went away (a cancelled upload) is not the endpoint failing.
      if (!(error instanceof S3Error) && !req.destroyed) {
        console.error(JSON.stringify({ level: 'error', message: 'local S3 failed', error: String(error) }));
      }
      reply.error(error instanceof S3Error ? error : s3Error('InternalError'));
    }
  }

  /** Resolves when every notification started so far has settled (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private async serve(req: IncomingMessage, reply: Reply) {
    const { target, bucket, key } = parseTarget(req.url ?? '/');
    if (bucket !== this.options.bucket) throw s3Error('NoSuchBucket', { BucketName: bucket });
    if (req.method === 'OPTIONS') return this.preflight(req, reply);
    const { region, credentials } = this.options;
    const auth = await authenticate(req, target, { region, credentials, now: this.now() });
    // The operation's own parameters: not the signature's, not the hoisted headers, not the SDK's x-id.
    const query = new Map(target.query.filter(([name]) => !/^(x-amz-.*|x-id)$/i.test(name)));
    const operation = operationOf(req.method ?? 'GET', key, query);
    // A presigned URL's hoisted x-amz-* parameters count as headers, as in S3 (a checksum in the URL is checked).
    const headers: Headers = { ...auth.hoisted };
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
    const unknown = Object.keys(headers).find((name) =>
      name.startsWith('x-amz-')
        ? !COMMON.test(name) &&
          !(operation === 'PutObject' && name.startsWith('x-amz-meta-')) &&
          !ACCEPTED[operation]?.test(name)
        : // Conditional writes: only `If-None-Match: *` (create, never replace) is emulated.
          operation === 'PutObject' && name.startsWith('if-') && !(name === 'if-none-match' && headers[name] === '*'),
    );
    if (unknown) throw s3Error('NotImplemented', { Header: unknown });
    if (Buffer.byteLength(key) > 1024)
      throw s3Error('KeyTooLongError', { Size: Buffer.byteLength(key), MaxSizeAllowed: 1024 });
    const { body, checksum } = await readBody(
      req,
      headers,
      auth.payload,
      operation === 'PutObject' || operation === 'DeleteObjects',
    );
    if (operation === 'PutObject') return this.putObject(req, reply, key, headers, body, checksum, auth);
    if (operation === 'GetObject' || operation === 'HeadObject') return this.getObject(reply, key, headers, query);
    if (operation === 'DeleteObjects') return this.deleteObjects(reply, headers, body, checksum);
    if (operation === 'ListObjectsV2') return this.listObjects(reply, query);
    await rm(this.fileOf(key), { force: true });
    reply.send(204, {});
  }

  private async putObject(
    req: IncomingMessage,
    reply: Reply,
    key: string,
    headers: Headers,
    body: Buffer,
    checksum: StoredObject['checksum'],
    auth: Authenticated,
  ) {
    const meta = Object.entries(headers).filter(([name]) => name.startsWith('x-amz-meta-'));
    if (meta.reduce((size, [name, value]) => size + name.length - 11 + Buffer.byteLength(value), 0) > 2048) {
      throw s3Error('MetadataTooLarge');
    }
    // aws-chunked is how the body travelled, not how it is stored.
    const encoding = headers['content-encoding']?.split(/\s*,\s*/).filter((e) => e && e !== 'aws-chunked');
    const kept = KEPT_HEADERS.map((name) => [name, name === 'content-encoding' ? encoding?.join(',') : headers[name]]);
    const stored: StoredObject = {
      key,
      size: body.length,
      etag: createHash('md5').update(body).digest('hex'),
      lastModified: isoSeconds(this.now().getTime()),
      contentType: headers['content-type'] ?? 'binary/octet-stream',
      headers: Object.fromEntries([...kept.filter(([, value]) => value), ...meta]),
      checksum,
    };
    // Written whole to a temporary file renamed over the object's: a reader sees the old object or the new one.
    const temporary = join(this.options.directory, `.tmp-${randomUUID()}`);
    await writeFile(temporary, Buffer.concat([Buffer.from(`${JSON.stringify(stored)}\n`), body]));
    if (headers['if-none-match'] === '*') {
      // Create only: a hard link fails when the name exists, so two racing PUTs cannot both win.
      try {
        await link(temporary, this.fileOf(key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        throw s3Error('PreconditionFailed', { Condition: 'If-None-Match' });
      } finally {
        await rm(temporary, { force: true });
      }
    } else {
      await rename(temporary, this.fileOf(key));
    }
    reply.send(200, { etag: `"${stored.etag}"`, ...checksumHeaders(stored) });
    this.notify(this.objectCreated(req, reply, stored, auth));
  }

  private async getObject(reply: Reply, key: string, headers: Headers, query: Map<string, string>) {
    const found = await this.read(key);
    if (!found) throw s3Error('NoSuchKey', { Key: key });
    const { object, body } = found;
    const validators = { etag: `"${object.etag}"`, 'last-modified': new Date(object.lastModified).toUTCString() };
    const precondition = evaluatePreconditions(headers, object);
    if (precondition === 304) return reply.send(304, validators);
    if (precondition) throw s3Error('PreconditionFailed', { Condition: precondition });
    const range = parseRange(headers.range, object.size);
    if (range === 'unsatisfiable') {
      throw s3Error('InvalidRange', { RangeRequested: headers.range ?? '', ActualObjectSize: object.size });
    }
    const response: Headers = {
      ...validators,
      'accept-ranges': 'bytes',
      'content-type': object.contentType,
      ...object.headers,
      ...(range ? { 'content-range': `bytes ${range.start}-${range.end}/${object.size}` } : {}),
      // A checksum covers the whole object: S3 returns it for a whole-object read only.
      ...(headers['x-amz-checksum-mode'] === 'ENABLED' && !range ? checksumHeaders(object) : {}),
    };
    // The response-* overrides, which S3 honours on signed requests (every request is, here).
    for (const name of OVERRIDES) {
      const value = query.get(`response-${name}`);
      if (value !== undefined) response[name] = value;
    }
    reply.send(range ? 206 : 200, response, range ? body.subarray(range.start, range.end + 1) : body);
  }

  private async deleteObjects(reply: Reply, headers: Headers, body: Buffer, checksum: StoredObject['checksum']) {
    if (!checksum && headers['content-md5'] === undefined) {
      throw s3Error('InvalidRequest', {}, 'Missing required header for this request: Content-MD5 OR x-amz-checksum-*');
    }
    const xml = body.toString('utf8');
    const keys = [...xml.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].map(
      (m) => /<Key>([\s\S]*?)<\/Key>/.exec(m[1]!)?.[1],
    );
    const wellFormed = /^\s*(<\?xml[^>]*\?>\s*)?<Delete(\s[^>]*)?>[\s\S]*<\/Delete>\s*$/.test(xml);
    if (!wellFormed || keys.length === 0 || keys.length > 1000 || keys.includes(undefined))
      throw s3Error('MalformedXML');
    const deleted: string[] = [];
    for (const key of keys as string[]) {
      await rm(this.fileOf(decodeXml(key)), { force: true });
      deleted.push(`<Deleted><Key>${xmlText(decodeXml(key))}</Key></Deleted>`);
    }
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/.test(xml);
    reply.xml(200, `<DeleteResult xmlns="${XMLNS}">${quiet ? '' : deleted.join('')}</DeleteResult>`);
  }

  /** Prefix, max-keys, start-after and continuation tokens; a delimiter, url encoding or owners are not emulated. */
  private async listObjects(reply: Reply, query: Map<string, string>) {
    const other = [...query.keys()].find(
      (name) => !/^(list-type|prefix|max-keys|start-after|continuation-token)$/.test(name),
    );
    if (other)
      throw s3Error('NotImplemented', { Parameter: other }, `The ${other} parameter is not implemented locally.`);
    const prefix = query.get('prefix') ?? '';
    const maxKeys = query.get('max-keys') ?? '1000';
    if (!/^\d{1,9}$/.test(maxKeys)) {
      const details = { ArgumentName: 'max-keys', ArgumentValue: maxKeys };
      throw s3Error('InvalidArgument', details, 'Provided max-keys not an integer or within integer range');
    }
    const token = query.get('continuation-token');
    const after = token === undefined ? (query.get('start-after') ?? '') : Buffer.from(token, 'base64').toString();
    if (token !== undefined && (!token || Buffer.from(after).toString('base64') !== token)) {
      const details = { ArgumentName: 'continuation-token', ArgumentValue: token };
      throw s3Error('InvalidArgument', details, 'The continuation token provided is incorrect');
    }
    const files = (await readdir(this.options.directory)).filter((name) => /^[0-9a-f]{64}$/.test(name));
    const objects = (await Promise.all(files.map((name) => readHead(join(this.options.directory, name)))))
      .filter((o): o is StoredObject => !!o?.key.startsWith(prefix) && byteOrder(o.key, after) > 0)
      .sort((a, b) => byteOrder(a.key, b.key));
    const page = objects.slice(0, Math.min(Number(maxKeys), 1000));
    const truncated = page.length > 0 && objects.length > page.length;
    const contents = page.map(
      (o) =>
        `<Contents><Key>${xmlText(o.key)}</Key><LastModified>${new Date(o.lastModified).toISOString()}</LastModified>` +
        `<ETag>&quot;${o.etag}&quot;</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    );
    const next = truncated
      ? `<NextContinuationToken>${Buffer.from(page.at(-1)!.key).toString('base64')}</NextContinuationToken>`
      : '';
    reply.xml(
      200,
      `<ListBucketResult xmlns="${XMLNS}"><Name>${this.options.bucket}</Name><Prefix>${xmlText(prefix)}</Prefix>` +
        `${token === undefined ? '' : `<ContinuationToken>${token}</ContinuationToken>`}${next}<KeyCount>${page.length}</KeyCount>` +
        `${query.has('start-after') ? `<StartAfter>${xmlText(query.get('start-after')!)}</StartAfter>` : ''}` +
        `<MaxKeys>${Math.min(Number(maxKeys), 1000)}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents.join('')}</ListBucketResult>`,
    );
  }

  /** A CORS preflight, answered from the bucket's one CORS rule: its origins may PUT, GET and HEAD, with any headers. */
  private preflight(req: IncomingMessage, reply: Reply) {
    const method = req.headers['access-control-request-method'];
    if (!req.headers.origin) throw s3Error('BadRequest');
    if (!method) throw s3Error('BadRequest', {}, 'Invalid Access-Control-Request-Method: null');
    const details = { Method: method, ResourceType: 'OBJECT' };
    if (!this.options.corsOrigins?.length) {
      throw s3Error('AccessForbidden', details, 'CORSResponse: CORS is not enabled for this bucket.');
    }
    if (!this.allowedOrigin(req.headers.origin) || !CORS_METHODS.includes(method)) {
      const message =
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
      throw s3Error('AccessForbidden', details, message);
    }
    const requested = req.headers['access-control-request-headers'];
    reply.send(200, requested ? { 'access-control-allow-headers': requested } : {});
  }

  /** An AllowedOrigin may hold one `*`, as in S3's CORS rules. */
  private allowedOrigin(origin: string): string | undefined {
    for (const allowed of this.options.corsOrigins ?? []) {
      if (allowed === '*') return '*';
      const star = allowed.indexOf('*');
      if (
        star < 0
          ? allowed === origin
          : origin.length >= allowed.length - 1 &&
            origin.startsWith(allowed.slice(0, star)) &&
            origin.endsWith(allowed.slice(star + 1))
      )
        return origin;
    }
    return undefined;
  }

  private corsHeaders(origin: string | undefined): Headers {
    const allowed = origin ? this.allowedOrigin(origin) : undefined;
    if (!allowed) return {};
    return {
      'access-control-allow-origin': allowed,
      'access-control-allow-methods': CORS_METHODS.join(', '),
      'access-control-expose-headers': 'ETag',
      'access-control-max-age': '3000',
      ...(allowed === '*' ? {} : { 'access-control-allow-credentials': 'true' }),
      vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
    };
  }

  /** The S3 event notification for a PutObject, as AWS documents it (event structure version 2.1). */
  private objectCreated(req: IncomingMessage, reply: Reply, object: StoredObject, auth: Authenticated): S3Event {
    // A hexadecimal value that orders the events of one key: time, then arrival.
    const sequencer = (BigInt(this.now().getTime()) * 1000n + BigInt(this.sequence++ % 1000)).toString(16);
    const { bucket, region } = this.options;
    return {
      Records: [
        {
          eventVersion: '2.1',
          eventSource: 'aws:s3',
          awsRegion: region,
          eventTime: this.now().toISOString(),
          eventName: 'ObjectCreated:Put',
          userIdentity: { principalId: `AWS:${auth.accessKeyId}` },
          requestParameters: { sourceIPAddress: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '') },
          responseElements: { 'x-amz-request-id': reply.requestId, 'x-amz-id-2': reply.hostId },
          s3: {
            s3SchemaVersion: '1.0',
            configurationId: 'local-object-created',
            bucket: { name: bucket, ownerIdentity: { principalId: OWNER_ID }, arn: `arn:aws:s3:::${bucket}` },
            object: {
              key: formEncode(object.key),
              size: object.size,
              eTag: object.etag,
              sequencer: sequencer.toUpperCase().padStart(18, '0'),
            },
          },
        },
      ],
    };
  }

  /** Delivered after the response, as S3 delivers: a failing handler is logged, never answered. */
  private notify(event: S3Event) {
    const handler = this.options.onObjectCreated;
    if (!handler) return;
    const run = (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      try {
        await handler(event);
      } catch (error) {
        const key = event.Records[0]?.s3.object.key;
        console.error(
          JSON.stringify({ level: 'error', message: 'S3 notification handler failed', key, error: String(error) }),
        );
      }
    })();
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  /** Never a path built from the key: the file is named by the key's SHA-256 and holds the key. */
  private fileOf(key: string): string {
    return join(this.options.directory, createHash('sha256').update(key).digest('hex'));
  }

  /** One file per object: its metadata as a JSON line, then its bytes. */
  private async read(key: string): Promise<{ object: StoredObject; body: Buffer } | undefined> {
    const file = await readFile(this.fileOf(key)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!file) return undefined;
    const end = file.indexOf(10);
    return { object: JSON.parse(file.toString('utf8', 0, end)) as StoredObject, body: file.subarray(end + 1) };
  }
}

/** The response side of one request: S3's request ids, Date and Server, the CORS headers, S3's XML errors. */
class Reply {
  readonly requestId = randomBytes(8).toString('hex').toUpperCase();
  readonly hostId = randomBytes(48).toString('base64');

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly cors: Headers,
    private readonly now: Date,
  ) {}

  send(status: number, headers: Headers, body: Buffer | string = '') {
    const ids = { 'x-amz-request-id': this.requestId, 'x-amz-id-2': this.hostId };
    // HEAD answers the length GET would; 204 and 304 have none.
    const length = status === 204 || status === 304 ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    this.res.writeHead(status, {
      ...ids,
      date: this.now.toUTCString(),
      server: 'AmazonS3',
      ...this.cors,
      ...headers,
      ...length,
    });
    this.res.end(this.req.method === 'HEAD' || status === 304 ? '' : body);
  }

  xml(status: number, document: string) {
    this.send(status, { 'content-type': 'application/xml' }, `<?xml version="1.0" encoding="UTF-8"?>\n${document}`);
  }

  error(error: S3Error) {
    if (this.res.headersSent) return void this.res.end();
    const details = Object.entries(error.details).map(
      ([name, value]) => `<${name}>${xmlText(String(value))}</${name}>`,
    );
    const ids = `<RequestId>${this.requestId}</RequestId><HostId>${this.hostId}</HostId>`;
    this.xml(
      error.status,
      `<Error><Code>${error.code}</Code><Message>${xmlText(error.message)}</Message>${details.join('')}${ids}</Error>`,
    );
  }
}

function parseTarget(url: string): { target: RequestTarget; bucket: string; key: string } {
  const [rawPath = '', rawQuery = ''] = url.split(/\?(.*)/s);
  const slash = rawPath.indexOf('/', 1);
  try {
    const query = rawQuery
      .split('&')
      .filter(Boolean)
      .map((part): [string, string] => {
        const [name = '', value = ''] = part.split(/=(.*)/s);
        return [decodeURIComponent(name), decodeURIComponent(value)];
      });
    const bucket = decodeURIComponent(rawPath.slice(1, slash < 0 ? undefined : slash));
    return { target: { rawPath, query }, bucket, key: slash < 0 ? '' : decodeURIComponent(rawPath.slice(slash + 1)) };
  } catch {
    throw s3Error('InvalidURI', { URI: url });
  }
}

function operationOf(method: string, key: string, query: Map<string, string>): string {
  const operation = key
    ? [...query.keys()].some((name) => SUBRESOURCES.test(name))
      ? undefined
      : OBJECT_OPERATIONS[method]
    : method === 'GET' && query.get('list-type') === '2'
      ? 'ListObjectsV2'
      : method === 'POST' && query.has('delete') && query.size === 1
        ? 'DeleteObjects'
        : undefined;
  if (!operation) throw s3Error('NotImplemented', { Method: method }, 'This operation is not implemented locally.');
  return operation;
}

/**
 * The body, checked as S3 checks it: its length (Content-Length, or x-amz-decoded-content-length
 * for aws-chunked), its x-amz-content-sha256, and for an upload or a DeleteObjects (`integrity`),
 * Content-MD5 and the one x-amz-checksum-* (a header, a hoisted query parameter or a trailer).
 */
async function readBody(req: IncomingMessage, headers: Headers, payload: string, integrity: boolean) {
  const chunked = payload === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
  const declared = headers[chunked ? 'x-amz-decoded-content-length' : 'content-length'];
  if (integrity && declared === undefined) throw s3Error('MissingContentLength');
  if (Number(declared) > 5 * 1024 ** 3)
    throw s3Error('EntityTooLarge', { ProposedSize: declared!, MaxSizeAllowed: 5 * 1024 ** 3 });
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const { body, trailers } = chunked
    ? decodeAwsChunked(Buffer.concat(chunks), headers)
    : { body: Buffer.concat(chunks), trailers: {} };
  if (declared !== undefined && body.length !== Number(declared)) throw s3Error('IncompleteBody');
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (/^[0-9a-f]{64}$/.test(payload) && sha256 !== payload) {
    throw s3Error('XAmzContentSHA256Mismatch', {
      ClientComputedContentSHA256: payload,
      S3ComputedContentSHA256: sha256,
    });
  }
  return { body, checksum: integrity ? verifyIntegrity(body, { ...headers, ...trailers }) : undefined };
}

/** aws-chunked with an unsigned trailer (`<hex size>\r\n<bytes>\r\n`… `0\r\n<trailer>\r\n\r\n`), as the SDK streams a body. */
function decodeAwsChunked(raw: Buffer, headers: Headers): { body: Buffer; trailers: Headers } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    const size = eol < 0 ? Number.NaN : Number.parseInt(raw.toString('latin1', at, eol).split(';')[0]!, 16);
    const end = eol + 2 + size;
    if (Number.isNaN(size) || (size > 0 && raw.toString('latin1', end, end + 2) !== '\r\n')) {
      throw s3Error('IncompleteBody', {}, 'The request body terminated unexpectedly');
    }
    if (size === 0) {
      at = eol + 2;
      break;
    }
    if ((parts.at(-1)?.length ?? 8192) < 8192) throw s3Error('InvalidChunkSizeError');
    parts.push(raw.subarray(eol + 2, end));
    at = end + 2;
  }
  const trailers: Headers = {};
  for (const line of raw.toString('utf8', at).split('\r\n').filter(Boolean)) {
    const colon = line.indexOf(':');
    if (colon < 1) throw s3Error('MalformedTrailerError');
    trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (headers['x-amz-trailer'] && trailers[headers['x-amz-trailer']] === undefined)
    throw s3Error('MalformedTrailerError');
  return { body: Buffer.concat(parts), trailers };
}

function verifyIntegrity(body: Buffer, headers: Headers): StoredObject['checksum'] {
  const md5 = headers['content-md5'];
  if (md5 !== undefined) {
    const given = Buffer.from(md5, 'base64');
    if (given.length !== 16 || given.toString('base64') !== md5) throw s3Error('InvalidDigest', { 'Content-MD5': md5 });
    const computed = createHash('md5').update(body).digest();
    if (!computed.equals(given)) {
      throw s3Error('BadDigest', {
        ExpectedDigest: given.toString('hex'),
        CalculatedDigest: computed.toString('base64'),
      });
    }
  }
  const named = Object.keys(headers).filter((name) => CHECKSUM_HEADER.test(name));
  if (named.length > 1) {
    throw s3Error(
      'InvalidRequest',
      {},
      'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
    );
  }
  const [header] = named;
  if (!header && headers['x-amz-sdk-checksum-algorithm'] !== undefined) {
    const message =
      'x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.';
    throw s3Error('InvalidRequest', {}, message);
  }
  if (!header) return undefined;
  const name = header.slice('x-amz-checksum-'.length);
  const digest = CHECKSUMS[name];
  if (!digest) throw s3Error('NotImplemented', { Header: header });
  const value = headers[header]!;
  const given = Buffer.from(value, 'base64');
  if (given.length !== digest(Buffer.alloc(0)).length || given.toString('base64') !== value) {
    throw s3Error('InvalidRequest', {}, `Value for ${header} header is invalid.`);
  }
  if (!digest(body).equals(given)) {
    throw s3Error('BadDigest', {}, `The ${name.toUpperCase()} you specified did not match the calculated checksum.`);
  }
  return { name, value };
}

/** RFC 9110's order, which S3 follows: If-Match, If-Unmodified-Since, then If-None-Match, If-Modified-Since. */
function evaluatePreconditions(headers: Headers, object: StoredObject): 304 | string | undefined {
  const matches = (list: string) =>
    list.split(',').some((t) => ['*', `"${object.etag}"`].includes(t.trim().replace(/^W\//, '')));
  const modified = new Date(object.lastModified).getTime();
  const since = (value: string | undefined) => (value === undefined ? Number.NaN : Date.parse(value));
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  if (ifMatch !== undefined ? !matches(ifMatch) : modified > since(headers['if-unmodified-since'])) {
    return ifMatch !== undefined ? 'If-Match' : 'If-Unmodified-Since';
  }
  if (ifNoneMatch !== undefined ? matches(ifNoneMatch) : modified <= since(headers['if-modified-since'])) return 304;
  return undefined;
}

/** `bytes=a-b`, `bytes=a-` or `bytes=-n`; anything else is ignored (the whole object), as S3 does. */
function parseRange(value: string | undefined, size: number) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(value?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '') || (m[1] !== '' && m[2] !== '' && Number(m[2]) < Number(m[1])))
    return undefined;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || end < start ? 'unsatisfiable' : { start, end };
}

function checksumHeaders(object: StoredObject): Headers {
  if (!object.checksum) return {};
  return { [`x-amz-checksum-${object.checksum.name}`]: object.checksum.value, 'x-amz-checksum-type': 'FULL_OBJECT' };
}

/** An object's metadata line, without reading its bytes. */
async function readHead(file: string): Promise<StoredObject | undefined> {
  const handle = await open(file).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    return JSON.parse(buffer.toString('utf8', 0, buffer.subarray(0, bytesRead).indexOf(10))) as StoredObject;
  } finally {
    await handle.close();
  }
}

/** S3 lists keys in UTF-8 byte order. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** How S3 writes a key into a notification: form-encoded (a space is `+`), `/` left as is. */
function formEncode(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
    .replace(/%2F/g, '/');
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text for an XML element; control characters (possible in keys) as character references, as the SDK sends them. */
function xmlText(text: string): string {
  return [...text]
    .map((ch) => (ch < ' ' ? `&#x${ch.charCodeAt(0).toString(16).toUpperCase()};` : (XML_ENTITIES[ch] ?? ch)))
    .join('');
}

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, entity: string) => {
    if (entity.startsWith('#'))
      return String.fromCodePoint(Number(entity.startsWith('#x') ? `0x${entity.slice(2)}` : entity.slice(1)));
    return Object.entries(XML_ENTITIES).find(([, name]) => name === `&${entity};`)![0];
  });
}
