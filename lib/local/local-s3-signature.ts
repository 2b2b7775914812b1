import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ALGORITHM_IDENTIFIER, getCanonicalHeaders, SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { NodeSha256 } from '../aws/node-sha256';

/**
 * S3's SigV4 checks for the local S3 endpoint (./local-s3.ts), in both forms S3 takes: the
 * Authorization header (the SDK) and query authentication (presigned URLs). The signature is
 * recomputed with `@smithy/signature-v4`'s own canonical request, string to sign and signing key
 * over a request rebuilt from what arrived — the path as the client encoded it (S3 does not
 * encode it again), the query without X-Amz-Signature, the signed headers only — and compared in
 * constant time. The checks before it and their answers are S3's ("Authenticating Requests (AWS
 * Signature Version 4)" in the S3 API reference; the messages as S3 words them).
 */
export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/** S3's error codes used here: status and default message. */
const ERRORS: Record<string, [number, string]> = {
  AccessDenied: [403, 'Access Denied'],
  AccessForbidden: [403, 'CORSResponse: This CORS request is not allowed.'],
  AuthorizationHeaderMalformed: [400, 'The authorization header is malformed'],
  AuthorizationQueryParametersError: [400, 'Error parsing the X-Amz-Credential parameter'],
  BadDigest: [400, 'The Content-MD5 you specified did not match what we received.'],
  BadRequest: [400, 'Insufficient information. Origin request header needed.'],
  EntityTooLarge: [400, 'Your proposed upload exceeds the maximum allowed size'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'],
  InternalError: [500, 'We encountered an internal error. Please try again.'],
  InvalidAccessKeyId: [403, 'The AWS Access Key Id you provided does not exist in our records.'],
  InvalidArgument: [400, 'Invalid Argument'],
  InvalidChunkSizeError: [403, 'Only the last chunk is allowed to have a size less than 8192 bytes'],
  InvalidDigest: [400, 'The Content-MD5 you specified was invalid.'],
  InvalidRange: [416, 'The requested range is not satisfiable'],
  InvalidRequest: [400, 'Invalid Request'],
  InvalidURI: [400, "Couldn't parse the specified URI."],
  KeyTooLongError: [400, 'Your key is too long'],
  MalformedTrailerError: [
    400,
    'The request contained trailing data that was not well-formed or did not conform to our published schema.',
  ],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema'],
  MetadataTooLarge: [400, 'Your metadata headers exceed the maximum allowed metadata size.'],
  MissingContentLength: [411, 'You must provide the Content-Length HTTP header.'],
  NoSuchBucket: [404, 'The specified bucket does not exist'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  NotImplemented: [501, 'A header you provided implies functionality that is not implemented'],
  PreconditionFailed: [412, 'At least one of the pre-conditions you specified did not hold'],
  RequestTimeTooSkewed: [403, 'The difference between the request time and the current time is too large.'],
  SignatureDoesNotMatch: [
    403,
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  ],
  XAmzContentSHA256Mismatch: [400, "The provided 'x-amz-content-sha256' header does not match what was computed."],
};

export function s3Error(code: string, details: Record<string, string | number> = {}, message?: string): S3Error {
  const [status, text] = ERRORS[code]!;
  return new S3Error(status, code, message ?? text, details);
}

export interface RequestTarget {
  /** The path exactly as sent, percent-encoding included. */
  rawPath: string;
  /** Decoded query parameters in the order sent; a name without `=` has the value ''. */
  query: [string, string][];
}

export interface Authenticated {
  accessKeyId: string;
  /** The payload hash signed: a hex SHA-256, UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER. */
  payload: string;
  /** A presigned URL's other x-amz-* parameters, which the signer hoisted from the headers and S3 takes as headers. */
  hoisted: Record<string, string>;
}

const SKEW_MS = 15 * 60 * 1000;
const WEEK_SECONDS = 604_800;
const QUERY_AUTH = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders'];
const OWN_PARAMETERS = /^x-amz-(algorithm|credential|date|expires|signedheaders|signature|content-sha256)$/;

export async function authenticate(
  req: IncomingMessage,
  target: RequestTarget,
  options: { region: string; credentials: Record<string, string>; now: Date },
): Promise<Authenticated> {
  const query = new Map(target.query);
  const header = req.headers.authorization;
  const presigned = [...QUERY_AUTH, 'X-Amz-Signature'].some((name) => query.has(name));
  if (header !== undefined && presigned) {
    const message =
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified';
    throw s3Error('InvalidArgument', { ArgumentName: 'Authorization', ArgumentValue: header }, message);
  }
  // No credentials at all: the bucket is private. (`Signature` is SigV2's query authentication.)
  if (!presigned && header === undefined) throw query.has('Signature') ? unsupported() : s3Error('AccessDenied');
  const fields = presigned ? queryFields(query) : headerFields(req, header!);
  const { fail, longDate, date, credential, signature, signedHeaders, payload, expires } = fields;

  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((p) => !p)) {
    throw fail('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  }
  const [accessKeyId, day, region, service, terminal] = parts as [string, string, string, string, string];
  if (day !== longDate.slice(0, 8)) throw fail('Invalid credential date. Date is not the same as X-Amz-Date.');
  if (region !== options.region) {
    throw fail(`the region '${region}' is wrong; expecting '${options.region}'`, { Region: options.region });
  }
  if (service !== 's3') throw fail(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminal !== 'aws4_request') throw fail(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`);
  const mode = payloadMode(payload);
  const secret = Object.hasOwn(options.credentials, accessKeyId) ? options.credentials[accessKeyId] : undefined;
  if (secret === undefined) throw s3Error('InvalidAccessKeyId', { AWSAccessKeyId: accessKeyId });

  const now = options.now.getTime();
  const serverTime = isoSeconds(now);
  if (expires === undefined) {
    if (Math.abs(now - date.getTime()) > SKEW_MS) {
      const skew = { RequestTime: longDate, ServerTime: serverTime, MaxAllowedSkewMilliseconds: SKEW_MS };
      throw s3Error('RequestTimeTooSkewed', skew);
    }
  } else {
    const expiry = {
      'X-Amz-Expires': expires,
      Expires: isoSeconds(date.getTime() + expires * 1000),
      ServerTime: serverTime,
    };
    if (now > date.getTime() + expires * 1000) throw s3Error('AccessDenied', expiry, 'Request has expired');
    if (date.getTime() - now > SKEW_MS) throw s3Error('AccessDenied', expiry, 'Request is not yet valid');
  }

  // Host and every x-amz-* header present must be signed, or the signature would not cover them.
  const signed = signedHeaders.split(';');
  const unsigned = ['host', ...Object.keys(req.headers).filter((name) => name.startsWith('x-amz-'))].filter(
    (name) => !signed.includes(name),
  );
  if (unsigned.length) {
    const message = 'There were headers present in the request which were not signed';
    throw s3Error('AccessDenied', { HeadersNotSigned: unsigned.join(', ') }, message);
  }
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const values = req.headersDistinct[name];
    if (values) headers[name] = values.join(',');
  }
  const request: HttpRequest = {
    method: req.method ?? 'GET',
    protocol: 'http:',
    hostname: headers.host ?? '',
    path: target.rawPath,
    query: queryOf(target.query.filter(([name]) => name !== 'X-Amz-Signature')),
    headers,
  };
  const check = new SignatureCheck(accessKeyId, secret, region);
  const expected = await check.compute(request, signed, payload, longDate, parts.slice(1).join('/'), date);
  const given = Buffer.from(signature);
  if (given.length !== expected.signature.length || !timingSafeEqual(given, Buffer.from(expected.signature))) {
    const { stringToSign, canonicalRequest } = expected;
    throw s3Error('SignatureDoesNotMatch', {
      AWSAccessKeyId: accessKeyId,
      StringToSign: stringToSign,
      SignatureProvided: signature,
      CanonicalRequest: canonicalRequest,
    });
  }
  const hoisted: Record<string, string> = {};
  if (presigned) {
    for (const [name, value] of target.query) {
      if (name.toLowerCase().startsWith('x-amz-') && !OWN_PARAMETERS.test(name.toLowerCase())) {
        hoisted[name.toLowerCase()] = value;
      }
    }
  }
  return { accessKeyId, payload: mode, hoisted };
}

interface Fields {
  fail: (message: string, details?: Record<string, string>) => S3Error;
  credential: string;
  signedHeaders: string;
  signature: string;
  longDate: string;
  date: Date;
  payload: string;
  /** Seconds, for query authentication. */
  expires?: number;
}

function queryFields(query: Map<string, string>): Fields {
  const fail = (message: string, details?: Record<string, string>) =>
    s3Error('AuthorizationQueryParametersError', details, message);
  const [algorithm, credential, longDate, expires, signedHeaders] = QUERY_AUTH.map((name) => query.get(name));
  const signature = query.get('X-Amz-Signature');
  if (!algorithm || !credential || !longDate || !expires || !signedHeaders || !signature) {
    throw fail(
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (algorithm !== ALGORITHM_IDENTIFIER) throw fail('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  const date = parseLongDate(longDate);
  if (!date) throw fail("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  if (!/^-?\d+$/.test(expires)) throw fail('X-Amz-Expires should be a number');
  if (Number(expires) < 0) throw fail('X-Amz-Expires must be non-negative');
  if (Number(expires) > WEEK_SECONDS) {
    throw fail(`X-Amz-Expires must be less than a week (in seconds) that is ${WEEK_SECONDS}`);
  }
  const payload = query.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
  const scopeFail = (message: string, details?: Record<string, string>) =>
    fail(`Error parsing the X-Amz-Credential parameter; ${message}`, details);
  return { fail: scopeFail, credential, signedHeaders, signature, longDate, date, payload, expires: Number(expires) };
}

function headerFields(req: IncomingMessage, header: string): Fields {
  const fail = (message: string, details?: Record<string, string>) =>
    s3Error('AuthorizationHeaderMalformed', details, `The authorization header is malformed; ${message}`);
  if (!header.startsWith(`${ALGORITHM_IDENTIFIER} `)) throw unsupported();
  const parts = new Map<string, string>();
  for (const part of header.slice(ALGORITHM_IDENTIFIER.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const [credential, signedHeaders, signature] = ['Credential', 'SignedHeaders', 'Signature'].map((n) => parts.get(n));
  if (!credential || !signedHeaders || !signature) {
    throw fail('the authorization header requires three components: Credential, SignedHeaders, and Signature.');
  }
  const amzDate = req.headers['x-amz-date'] as string | undefined;
  const httpDate = amzDate === undefined ? req.headers.date : undefined;
  const date = amzDate !== undefined ? parseLongDate(amzDate) : httpDate ? new Date(httpDate) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw s3Error('AccessDenied', {}, 'AWS authentication requires a valid Date or x-amz-date header');
  }
  const payload = req.headers['x-amz-content-sha256'] as string | undefined;
  if (payload === undefined) {
    throw s3Error('InvalidRequest', {}, 'Missing required header for this request: x-amz-content-sha256');
  }
  const longDate = amzDate ?? isoSeconds(date.getTime()).replace(/[-:]/g, '');
  return { fail, credential, signedHeaders, signature, longDate, date, payload };
}

function unsupported(): S3Error {
  const message = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';
  return s3Error('InvalidRequest', {}, message);
}

/** The payload hashes S3 takes; the signed streaming forms (chunk signatures) are not emulated. */
function payloadMode(payload: string): string {
  if (/^[0-9a-f]{64}$/i.test(payload)) return payload.toLowerCase();
  if (payload === 'UNSIGNED-PAYLOAD' || payload === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') return payload;
  if (/^STREAMING-AWS4-/.test(payload)) throw s3Error('NotImplemented', { Header: 'x-amz-content-sha256' });
  throw s3Error(
    'InvalidArgument',
    { ArgumentName: 'x-amz-content-sha256', ArgumentValue: payload },
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
  );
}

/** The query as @smithy/signature-v4 canonicalizes it: a repeated name as an array. */
function queryOf(pairs: [string, string][]): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const seen = query[name];
    query[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return query;
}

/** `@smithy/signature-v4`'s canonical request, string to sign and signing key, over the request as it arrived. */
class SignatureCheck extends SignatureV4 {
  constructor(accessKeyId: string, secretAccessKey: string, region: string) {
    // S3 signs the path as sent: no normalization, no second encoding.
    super({
      service: 's3',
      region,
      credentials: { accessKeyId, secretAccessKey },
      sha256: NodeSha256,
      uriEscapePath: false,
    });
  }

  async compute(request: HttpRequest, signed: string[], payload: string, longDate: string, scope: string, date: Date) {
    const canonicalRequest = this.createCanonicalRequest(
      request,
      getCanonicalHeaders(request, undefined, new Set(signed)),
      payload,
    );
    const stringToSign = await this.createStringToSign(longDate, scope, canonicalRequest, ALGORITHM_IDENTIFIER);
    return { canonicalRequest, stringToSign, signature: await this.sign(stringToSign, { signingDate: date }) };
  }
}

function parseLongDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  const date = m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
