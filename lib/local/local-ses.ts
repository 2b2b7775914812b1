import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ALGORITHM_IDENTIFIER, getCanonicalHeaders, SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { NodeSha256 } from '../aws/node-sha256';

/**
 * Amazon SES v2 locally, for the real `@aws-sdk/client-sesv2`: SendEmail (REST-JSON
 * `POST /v2/email/outbound-emails`) with Simple content, SigV4-checked and validated as SES checks
 * it ("SendEmail", "Message", "MessageHeader" in the SES API v2 reference, "Amazon SES header
 * fields" in the developer guide), answered with SES's error types in `x-amzn-ErrorType`, which is
 * what the SDK names its exceptions after. Nothing is delivered: each accepted mail is kept in
 * memory (the newest `maxMessages`) and shown at GET /local/mail (JSON, newest last) and
 * /local/mail/view (HTML), so a developer sees what AWS would have sent and a test asserts on it.
 * Raw and Template content, attachments and list management answer BadRequestException "not
 * emulated" rather than half an emulation. Call `handles(req)` before reading the body.
 */
export interface LocalSesOptions {
  region: string;
  /** accessKeyId → secretAccessKey. */
  credentials: Record<string, string>;
  now?: () => Date;
  /** Mails kept; the oldest are dropped first. Default 500. */
  maxMessages?: number;
}

export interface CapturedMail {
  id: string;
  to: string[];
  cc: string[];
  bcc: string[];
  from: string;
  replyTo: string[];
  subject: string;
  text: string | null;
  html: string | null;
  /** The custom headers (Content.Simple.Headers) as given, by name. */
  headers: Record<string, string>;
  configurationSet: string | null;
  sentAt: string;
}

export class SesError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const SEND_EMAIL_PATH = '/v2/email/outbound-emails';
/** SES v2's default message size limit; the JSON around the content may add a little. */
const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;
const MAX_REQUEST_BYTES = MAX_MESSAGE_BYTES + 1024 * 1024;
const MAX_RECIPIENTS = 50;
const MAX_HEADERS = 15;
const SKEW_MS = 15 * 60 * 1000;
/** What SES sets itself for Simple and Template content: refused as custom headers. */
const SES_HEADERS = new Set(
  'bcc cc content-disposition content-type date from message-id mime-version reply-to return-path subject to'.split(
    ' ',
  ),
);
/** Fields that may appear only once in a message's header section. */
const ONCE = new Set(
  `Accept-Language acceptLanguage Archived-At Auto-Submitted Bounces-to Comments Content-Alternative Content-Base
  Content-Class Content-Description Content-Disposition Content-Duration Content-ID Content-Language Content-Length
  Content-Location Content-MD5 Content-Transfer-Encoding Content-Type Date Delivered-To Disposition-Notification-Options
  Disposition-Notification-To DKIM-Signature DomainKey-Signature Errors-To From Importance In-Reply-To Keywords
  List-Archive List-Help List-Id List-Owner List-Post List-Subscribe List-Unsubscribe List-Unsubscribe-Post
  Message-Context Message-ID MIME-Version Organization Original-From Original-Message-ID Original-Recipient
  Original-Subject Precedence Priority References Reply-To Return-Path Return-Receipt-To Sender Solicitation
  Sensitivity Subject Thread-Index Thread-Topic User-Agent VBR-Info`
    .split(/\s+/)
    .map((name) => name.toLowerCase()),
);

const badRequest = (message: string) => new SesError(400, 'BadRequestException', message);
const notEmulated = (what: string) => badRequest(`${what} is not emulated by the local SES endpoint`);

export class LocalSes {
  private readonly now: () => Date;
  private readonly max: number;
  private mails: CapturedMail[] = [];
  /** Refusals queued by `failNext`, answered before anything is checked. */
  private failures: SesError[] = [];

  constructor(private readonly options: LocalSesOptions) {
    this.now = options.now ?? (() => new Date());
    this.max = options.maxMessages ?? 500;
  }

  handles(req: IncomingMessage): boolean {
    const path = (req.url ?? '/').split('?')[0]!;
    return path.startsWith('/v2/email/') || path === '/local/mail' || path === '/local/mail/view';
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith('/local/mail')) return this.serveMail(req, res, path);
    const requestId = randomUUID();
    try {
      const messageId = await this.sendEmail(req, path);
      res
        .writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId })
        .end(JSON.stringify({ MessageId: messageId }));
    } catch (error) {
      if (!(error instanceof SesError)) {
        console.error(JSON.stringify({ level: 'error', message: 'local SES failed', error: String(error) }));
      }
      const { status, code, message } = error instanceof SesError ? error : new SesError(500, 'InternalFailure', '');
      const headers = { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amzn-errortype': code };
      // A body left unread (refused by its declared size) would otherwise keep the connection busy.
      res
        .writeHead(status, req.complete ? headers : { ...headers, connection: 'close' })
        .end(JSON.stringify({ message }));
    }
  }

  /** The captured mails, oldest first. */
  mail(): CapturedMail[] {
    return this.mails.map((mail) => structuredClone(mail));
  }

  clear(): void {
    this.mails = [];
  }

  /**
   * The next `count` SendEmail calls fail as SES fails when the account's sending is paused
   * (`SendingPausedException`, 400: the SDK does not retry it): a sweep's send that fails after
   * its claim, for the tests of retries.
   */
  failNext(count: number, code = 'SendingPausedException', status = 400): void {
    for (let i = 0; i < count; i++)
      this.failures.push(new SesError(status, code, 'Email sending is disabled for this account (local failNext)'));
  }

  private async sendEmail(req: IncomingMessage, path: string): Promise<string> {
    const body = await readBody(req);
    const failure = this.failures.shift();
    if (failure) throw failure;
    const now = this.now();
    await authenticate(req, body, { region: this.options.region, credentials: this.options.credentials, now });
    if (path !== SEND_EMAIL_PATH || req.method !== 'POST') {
      const message = `${req.method} ${path} is not emulated by the local SES endpoint: only SendEmail (POST ${SEND_EMAIL_PATH})`;
      throw new SesError(404, 'NotFoundException', message);
    }
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      throw new SesError(400, 'SerializationException', 'The request body is not valid JSON');
    }
    const mail = validate(input, sesMessageId(now), now);
    this.mails.push(mail);
    if (this.mails.length > this.max) this.mails.splice(0, this.mails.length - this.max);
    return mail.id;
  }

  private async serveMail(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    req.resume();
    if (req.method === 'DELETE' && path === '/local/mail') {
      this.clear();
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: path === '/local/mail' ? 'GET, HEAD, DELETE' : 'GET, HEAD' }).end();
      return;
    }
    if (path === '/local/mail/view' || /\btext\/html\b/.test(req.headers.accept ?? '')) {
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          // The iframes' sandbox already forbids scripts; this forbids them in the page and every frame.
          'content-security-policy': "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'",
          'x-content-type-options': 'nosniff',
        })
        .end(req.method === 'HEAD' ? '' : mailPage(this.mails));
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(req.method === 'HEAD' ? '' : JSON.stringify({ items: this.mails }));
  }
}

/** The body whole: the signature covers its SHA-256. Past the size limit it is refused, read or not. */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const tooLarge = () => new SesError(400, 'MessageRejected', 'Message length is more than 40 MB');
  if (Number(req.headers['content-length']) > MAX_REQUEST_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // Drained, not kept: the client is answered once it has finished sending.
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk as Buffer);
  }
  if (size > MAX_REQUEST_BYTES) throw tooLarge();
  return Buffer.concat(chunks);
}

/**
 * SigV4 as AWS's REST-JSON front end checks it: the Authorization header's scope (date, region,
 * service `ses`), the key, the clock within 15 minutes, then the signature recomputed with
 * `@smithy/signature-v4`'s canonical request over the headers named signed, the path as sent (the
 * signer encodes it again, as for every service but S3) and the body's SHA-256, compared in
 * constant time. (./local-s3-signature.ts is S3's: its scope, payload modes and errors.)
 */
export async function authenticate(
  req: IncomingMessage,
  body: Buffer,
  options: { region: string; credentials: Record<string, string>; now: Date; service?: string },
): Promise<void> {
  const scopedService = options.service ?? 'ses';
  const header = req.headers.authorization;
  if (header === undefined)
    throw new SesError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const incomplete = (message: string) => new SesError(400, 'IncompleteSignature', message);
  if (!header.startsWith(`${ALGORITHM_IDENTIFIER} `)) {
    throw incomplete(`Unsupported authorization type; expecting '${ALGORITHM_IDENTIFIER}'`);
  }
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM_IDENTIFIER.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const [credential, signedHeaders, signature] = ['Credential', 'SignedHeaders', 'Signature'].map((n) => fields.get(n));
  if (!credential || !signedHeaders || !signature) {
    throw incomplete('Authorization header requires Credential, SignedHeaders and Signature parameters.');
  }
  const longDate = req.headers['x-amz-date'];
  const date = typeof longDate === 'string' ? parseLongDate(longDate) : undefined;
  if (!date || typeof longDate !== 'string') throw incomplete("Authorization header requires a valid 'X-Amz-Date'.");
  const parts = credential.split('/');
  if (parts.length !== 5) throw incomplete(`Credential must have exactly 5 slash-delimited elements: ${credential}`);
  const [accessKeyId, day, region, service, terminal] = parts as [string, string, string, string, string];
  const mismatch = (message: string) => new SesError(403, 'SignatureDoesNotMatch', message);
  if (day !== longDate.slice(0, 8)) {
    throw mismatch('Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP');
  }
  if (region !== options.region) throw mismatch(`Credential should be scoped to a valid region, not '${region}'.`);
  if (service !== scopedService) throw mismatch(`Credential should be scoped to correct service: '${scopedService}'.`);
  if (terminal !== 'aws4_request')
    throw mismatch("Credential should be scoped with a valid terminator: 'aws4_request'");
  const secret = Object.hasOwn(options.credentials, accessKeyId) ? options.credentials[accessKeyId] : undefined;
  if (secret === undefined) {
    throw new SesError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const skew = date.getTime() - options.now.getTime();
  if (Math.abs(skew) > SKEW_MS) {
    const server = (offset: number) => new Date(options.now.getTime() + offset).toISOString();
    const message =
      skew < 0
        ? `Signature expired: ${longDate} is now earlier than ${server(-SKEW_MS)} (${server(0)} - 15 min.)`
        : `Signature not yet current: ${longDate} is still later than ${server(SKEW_MS)} (${server(0)} + 15 min.)`;
    throw new SesError(403, 'InvalidSignatureException', message);
  }
  const signed = signedHeaders.split(';');
  // Unsigned, the date could be moved within its day past the skew check.
  for (const name of ['host', 'x-amz-date']) {
    if (!signed.includes(name)) throw incomplete(`'${name}' must be a 'SignedHeader' in the AWS Authorization.`);
  }
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const values = req.headersDistinct[name];
    if (values) headers[name] = values.join(',');
  }
  const [rawPath = '/', rawQuery = ''] = (req.url ?? '/').split(/\?(.*)/s);
  const request: HttpRequest = {
    method: req.method ?? 'POST',
    protocol: 'http:',
    hostname: headers.host ?? '',
    path: rawPath,
    query: queryOf(rawQuery),
    headers,
  };
  const payload = createHash('sha256').update(body).digest('hex');
  const check = new SignatureCheck(accessKeyId, secret, region, scopedService);
  const expected = Buffer.from(await check.compute(request, signed, payload, longDate, parts.slice(1).join('/'), date));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw mismatch(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
}

class SignatureCheck extends SignatureV4 {
  constructor(accessKeyId: string, secretAccessKey: string, region: string, service: string) {
    super({ service, region, credentials: { accessKeyId, secretAccessKey }, sha256: NodeSha256 });
  }

  async compute(request: HttpRequest, signed: string[], payload: string, longDate: string, scope: string, date: Date) {
    const canonical = this.createCanonicalRequest(
      request,
      getCanonicalHeaders(request, undefined, new Set(signed)),
      payload,
    );
    const stringToSign = await this.createStringToSign(longDate, scope, canonical, ALGORITHM_IDENTIFIER);
    return this.sign(stringToSign, { signingDate: date });
  }
}

/** As the signer canonicalizes a query: a repeated name as an array. */
function queryOf(raw: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(raw)) {
    query[name] = query[name] === undefined ? value : [query[name]].flat().concat(value);
  }
  return query;
}

function parseLongDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  const date = m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

/** SES's message ids: 16 hex digits (0100 and the time), a UUID, -000000. */
function sesMessageId(now: Date): string {
  return `0100${now.getTime().toString(16).padStart(12, '0')}-${randomUUID()}-000000`;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A member of the wrong JSON type is refused by the service's deserializer, before any validation. */
function member<T>(parent: Json, name: string, kind: 'string' | 'object' | 'array'): T | undefined {
  const value = parent[name];
  if (value === undefined || value === null) return undefined;
  const ok = kind === 'array' ? Array.isArray(value) : kind === 'object' ? isObject(value) : typeof value === 'string';
  if (!ok) throw new SesError(400, 'SerializationException', `${name} must be of type ${kind}`);
  return value as T;
}

function addresses(parent: Json, name: string): string[] {
  const list = member<unknown[]>(parent, name, 'array') ?? [];
  if (!list.every((item) => typeof item === 'string')) {
    throw new SesError(400, 'SerializationException', `${name} must be a list of strings`);
  }
  for (const address of list as string[]) checkAddress(address);
  return list as string[];
}

/** `local@domain.tld`, alone or as `Display Name <local@domain.tld>`. */
function checkAddress(address: string) {
  const spec = /<([^<>]*)>\s*$/.exec(address)?.[1] ?? address;
  if (!spec.includes('@')) throw badRequest(`Missing final '@domain': ${address}`);
  if (!/^[^\s@<>()",;:\\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(spec.trim())) {
    throw badRequest(`Illegal address: ${address}`);
  }
}

function validate(input: unknown, id: string, now: Date): CapturedMail {
  if (!isObject(input)) throw new SesError(400, 'SerializationException', 'The request body must be a JSON object');
  const content = member<Json>(input, 'Content', 'object');
  if (!content) throw badRequest('Content is required');
  const kinds = ['Simple', 'Raw', 'Template'].filter((kind) => content[kind] != null);
  if (kinds.length !== 1) throw badRequest('Content must have exactly one of Simple, Raw or Template');
  if (kinds[0] !== 'Simple') throw notEmulated(`${kinds[0]} content`);
  if (input.ListManagementOptions != null) throw notEmulated('ListManagementOptions');
  const simple = member<Json>(content, 'Simple', 'object')!;
  if (simple.Attachments != null) throw notEmulated('Attachments');

  const from = member<string>(input, 'FromEmailAddress', 'string');
  if (!from) throw badRequest('FromEmailAddress is required for Simple content');
  checkAddress(from);
  const destination = member<Json>(input, 'Destination', 'object') ?? {};
  const [to = [], cc = [], bcc = []] = ['ToAddresses', 'CcAddresses', 'BccAddresses'].map((name) =>
    addresses(destination, name),
  );
  const recipients = to.length + cc.length + bcc.length;
  if (recipients === 0) throw badRequest('Missing destination: at least one of ToAddresses, CcAddresses, BccAddresses');
  if (recipients > MAX_RECIPIENTS) throw badRequest(`Recipient count exceeds ${MAX_RECIPIENTS}.`);
  const replyTo = addresses(input, 'ReplyToAddresses');

  const data = (parent: Json | undefined, name: string) => {
    const part = parent && member<Json>(parent, name, 'object');
    if (!part) return null;
    const value = member<string>(part, 'Data', 'string');
    if (value === undefined) throw badRequest(`${name}.Data is required`);
    return value;
  };
  const subject = data(simple, 'Subject');
  if (subject === null) throw badRequest('Subject is required');
  const body = member<Json>(simple, 'Body', 'object');
  const text = data(body, 'Text');
  const html = data(body, 'Html');
  if (text === null && html === null) throw badRequest('Body must have Text or Html');
  const headers = customHeaders(member<unknown[]>(simple, 'Headers', 'array') ?? []);

  const size = [from, ...to, ...cc, ...replyTo, subject, text ?? '', html ?? '', ...Object.entries(headers).flat()]
    .map((part) => Buffer.byteLength(part) + 2)
    .reduce((a, b) => a + b, 0);
  if (size > MAX_MESSAGE_BYTES) throw new SesError(400, 'MessageRejected', 'Message length is more than 40 MB');
  const configurationSet = member<string>(input, 'ConfigurationSetName', 'string') ?? null;
  return { id, from, to, cc, bcc, replyTo, subject, text, html, headers, configurationSet, sentAt: now.toISOString() };
}

/** MessageHeader's constraints, SES's own headers refused, the once-only fields once. */
function customHeaders(list: unknown[]): Record<string, string> {
  if (list.length > MAX_HEADERS) throw badRequest(`Headers must have at most ${MAX_HEADERS} items`);
  const headers: Record<string, string> = {};
  const seen = new Set<string>();
  for (const item of list) {
    if (!isObject(item)) throw new SesError(400, 'SerializationException', 'Headers must be a list of objects');
    const name = member<string>(item, 'Name', 'string');
    const value = member<string>(item, 'Value', 'string');
    if (name === undefined || value === undefined) throw badRequest('A message header requires Name and Value');
    if (!/^[!-9;-~]{1,126}$/.test(name)) {
      throw badRequest(`Invalid header name '${name}': 1 to 126 printable ASCII characters, no colon`);
    }
    if (!/^[ -~]{1,870}$/.test(value)) {
      throw badRequest(`Invalid value for header '${name}': 1 to 870 printable ASCII characters`);
    }
    const key = name.toLowerCase();
    if (SES_HEADERS.has(key)) throw badRequest(`Header '${name}' is set by SES and cannot be a custom header`);
    if (seen.has(key) && ONCE.has(key)) throw badRequest(`Duplicate header '${name}'.`);
    seen.add(key);
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function mailPage(mails: readonly CapturedMail[]): string {
  const items = mails
    .toReversed()
    .map((mail) => {
      const list = (label: string, values: string[]) =>
        values.length ? `<dt>${label}</dt><dd>${escapeHtml(values.join(', '))}</dd>` : '';
      const headers = Object.entries(mail.headers)
        .map(([name, value]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(value)}</dd>`)
        .join('');
      // srcdoc is an attribute: the mail's HTML escaped once is exactly the frame's document, and
      // the empty sandbox runs none of it (no scripts, no forms, an opaque origin).
      const html =
        mail.html === null ? '' : `<iframe sandbox srcdoc="${escapeHtml(mail.html)}" title="HTML body"></iframe>`;
      const text = mail.text === null ? '' : `<pre>${escapeHtml(mail.text)}</pre>`;
      return `<article><h2>${escapeHtml(mail.subject)}</h2><dl><dt>From</dt><dd>${escapeHtml(mail.from)}</dd>${list('To', mail.to)}${list('Cc', mail.cc)}${list('Bcc', mail.bcc)}${list('Reply-To', mail.replyTo)}<dt>Sent</dt><dd><time>${escapeHtml(mail.sentAt)}</time></dd>${headers}</dl>${text}${html}</article>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Local mail (${mails.length})</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}article{border-top:1px solid #ccc;padding:1em 0}
dl{display:grid;grid-template-columns:8em 1fr;gap:.2em 1em}dt{color:#666}dd{margin:0;overflow-wrap:anywhere}
pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}iframe{width:100%;height:24em;border:1px solid #ccc}</style>
</head><body><h1>Mail sent through the local SES endpoint (${mails.length}), newest first</h1>
${items || '<p>No mail yet.</p>'}
</body></html>`;
}
