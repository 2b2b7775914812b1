import { createHash } from 'node:crypto';
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../aws/node-sha256';
import type { Push } from './frames';
import type { Publisher, PublishOutcome } from './publisher';

/**
 * Pushes through API Gateway's management API: one `POST {endpoint}/@connections/{id}`
 * (PostToConnection) per connection, all in parallel (a conversation's audience is a few devices
 * per participant). Locally the same requests reach the local stack's management API.
 *
 * Why not `@aws-sdk/client-apigatewaymanagementapi`: a profile put the SDK client at ~0.45–0.5 ms
 * of CPU per call (middleware stack, endpoint resolution, retry strategy, serialisation; SigV4 was
 * 27 % of it), against ~0.15 ms for SigV4 signing with `@smithy/signature-v4` plus a plain
 * `node:https` request on a keep-alive agent. A message to 200 sockets is 200 calls, so on a
 * 2-core machine the client's overhead dominated send→frame latency and send throughput. The
 * signing stays AWS's own (`@smithy/signature-v4`): a hand-written signer measured ~10 µs, not
 * worth owning crypto code for. What made the library's slow was node:crypto making a KeyObject
 * of the HMAC key on every call (lib/aws/node-sha256.ts keeps them): 48 → 27 µs a signature,
 * 165 → 120 µs of CPU a push, 32 → 21 ms for 200 pushes, against a loopback server here.
 * Everything imported here (@smithy/signature-v4, @aws-sdk/credential-provider-node) is part of
 * the SDK the Lambda runtime ships, like the client was (the SDK is external in the bundles).
 */
export class ManagementApiPublisher implements Publisher {
  private readonly base: URL;
  private readonly send: typeof httpRequest;
  /** One keep-alive pool per publisher: a TLS handshake per call would cost more than the client did. */
  private readonly agent: HttpAgent;
  private readonly signer: SignatureV4;
  /** `/{stage}/@connections/`: the path every call shares. */
  private readonly connectionsPath: string;

  constructor(
    endpoint: string,
    private readonly onFailure: (connectionId: string, error: unknown) => void = () => {},
  ) {
    this.base = new URL(endpoint);
    const secure = this.base.protocol === 'https:';
    // http only for the local stack's management API.
    this.send = secure ? httpsRequest : httpRequest;
    const pool = { keepAlive: true, maxSockets: 64 };
    this.agent = secure ? new HttpsAgent(pool) : new HttpAgent(pool);
    this.signer = new SignatureV4({
      service: 'execute-api',
      // Read when signing, not now: the local stack sets AWS_REGION after the runtime is built.
      region: async () => regionOf(this.base.hostname),
      // Lambda's role credentials (environment) or whatever the chain finds; memoized by the provider.
      credentials: defaultProvider(),
      sha256: NodeSha256,
    });
    this.connectionsPath = `${this.base.pathname.replace(/\/+$/, '')}/@connections/`;
  }

  async publish({ connectionIds, frame }: Push): Promise<PublishOutcome> {
    const outcome: PublishOutcome = { delivered: 0, gone: [], failed: 0 };
    if (connectionIds.length === 0) return outcome;
    const body = Buffer.from(JSON.stringify(frame), 'utf8');
    // The same body for every connection: hashed once here rather than once per signature.
    const bodyHash = createHash('sha256').update(body).digest('hex');
    // One deadline for the whole audience rather than a socket timer per call: a stuck call must
    // not hold the request, and 200 timers armed and cleared per message cost more than the check.
    const batch: Batch = { inFlight: new Set(), expired: false };
    const deadline = setTimeout(() => {
      batch.expired = true;
      for (const req of batch.inFlight) req.destroy(timedOut());
    }, requestTimeoutMs);
    // No credentials means every signature fails: each push counts as failed, and publish never throws.
    const settled = await Promise.allSettled(connectionIds.map((id) => this.post(id, body, bodyHash, batch)));
    clearTimeout(deadline);
    settled.forEach((result, i) => {
      const id = connectionIds[i]!;
      if (result.status === 'rejected') {
        outcome.failed++;
        this.onFailure(id, result.reason);
      } else if (result.value === 'gone') outcome.gone.push(id);
      else outcome.delivered++;
    });
    return outcome;
  }

  /** PostToConnection, retried once (a push is worth little late, and the request waits for it). */
  private async post(
    connectionId: string,
    body: Buffer,
    bodyHash: string,
    batch: Batch,
  ): Promise<'delivered' | 'gone'> {
    const { protocol, hostname, port, host } = this.base;
    const path = `${this.connectionsPath}${encodeURIComponent(connectionId)}`;
    // Signed once: a signature stays valid for minutes, so the retry reuses it.
    const signed = await this.signer.sign({
      method: 'POST',
      protocol,
      hostname,
      port: port ? Number(port) : undefined,
      path,
      query: {},
      headers: { host, 'content-type': 'application/json', 'x-amz-content-sha256': bodyHash },
      body,
    });
    const request = { hostname, port, path, headers: { ...signed.headers, 'content-length': String(body.length) } };
    try {
      return await this.attempt(request, body, batch);
    } catch (error) {
      if ((error instanceof ManagementApiError && !error.retryable) || batch.expired) throw error;
      // A network error is most often a pooled socket the gateway closed while idle (or while the
      // Lambda was frozen): a fresh one is worth trying at once. Throttling and 5xx get a short jitter.
      if (error instanceof ManagementApiError) await sleep(Math.random() * 100);
      if (batch.expired) throw timedOut();
      return await this.attempt(request, body, batch);
    }
  }

  /** One call: 2xx delivered, 410 gone, anything else a ManagementApiError (network errors as Node raised them). */
  private async attempt(request: Target, body: Buffer, batch: Batch): Promise<'delivered' | 'gone'> {
    const { status, errorType, text } = await this.exchange(request, body, batch);
    if (status >= 200 && status < 300) return 'delivered';
    // API Gateway's answer for a connection that is closed: GoneException, HTTP 410.
    if (status === 410 || errorType === 'GoneException') return 'gone';
    throw new ManagementApiError(status, errorType, text);
  }

  /** One request; the response body is always read to its end, so the socket goes back to the pool. */
  private exchange(
    target: Target,
    body: Buffer,
    batch: Batch,
  ): Promise<{ status: number; errorType: string | undefined; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.send({ ...target, method: 'POST', agent: this.agent }, (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', reject);
        if (status >= 200 && status < 300) {
          // A delivered push's answer has nothing to read: drained, not collected.
          res.on('end', () => resolve({ status, errorType: undefined, text: '' }));
          res.resume();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status, errorType: errorTypeOf(res), text: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      batch.inFlight.add(req);
      req.on('close', () => batch.inFlight.delete(req));
      req.on('error', reject);
      req.end(body);
    });
  }
}

type Target = Pick<RequestOptions, 'hostname' | 'port' | 'path' | 'headers'>;

/** One publish's calls in flight, and whether its deadline has passed. */
interface Batch {
  inFlight: Set<ClientRequest>;
  expired: boolean;
}

function timedOut(): Error {
  return Object.assign(new Error('PostToConnection timed out'), { code: 'ETIMEDOUT' });
}

/** For a whole publish: long enough for a healthy gateway many times over; a stuck socket must not hold the request. */
const requestTimeoutMs = 3000;

/** A non-2xx, non-410 answer, named as the SDK named it (x-amzn-ErrorType) for the failure log. */
class ManagementApiError extends Error {
  constructor(
    readonly statusCode: number,
    errorType: string | undefined,
    body: string,
  ) {
    super(`PostToConnection answered ${statusCode}${messageOf(body)}`);
    this.name = errorType ?? `HTTP${statusCode}`;
  }

  /** Throttling and server errors are worth one more try; other 4xx are not. */
  get retryable(): boolean {
    return this.statusCode === 429 || this.statusCode >= 500;
  }
}

/** `x-amzn-ErrorType: GoneException:http://internal.amazon.com/…` → `GoneException`. */
function errorTypeOf(res: IncomingMessage): string | undefined {
  const header = res.headers['x-amzn-errortype'];
  const value = Array.isArray(header) ? header[0] : header;
  return value ? value.split(':')[0] : undefined;
}

function messageOf(body: string): string {
  try {
    const message = (JSON.parse(body) as { message?: unknown; Message?: unknown } | null)?.message;
    return typeof message === 'string' ? `: ${message}` : '';
  } catch {
    return '';
  }
}

/** AWS_REGION as Lambda sets it, else AWS_DEFAULT_REGION, else the region in an execute-api hostname. */
function regionOf(hostname: string): string {
  const region =
    process.env.AWS_REGION ??
    process.env.AWS_DEFAULT_REGION ??
    /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(hostname)?.[1];
  if (!region) throw new Error('No region to sign PostToConnection with: set AWS_REGION');
  return region;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
