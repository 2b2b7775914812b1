import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagementApiPublisher } from '../../lib/realtime/management-api-publisher';

/**
 * The publisher against a real HTTP server that answers as API Gateway's management API does, one
 * behaviour per connection id: what it counts as delivered, gone and failed, what it retries, and
 * that a stuck call neither holds the publish past its deadline nor makes it throw.
 */
let server: Server;
let endpoint: string;
const calls = new Map<string, number>();
const received: Array<{ id: string; body: string; authorization: string | undefined }> = [];

function answer(req: IncomingMessage, body: string) {
  const id = decodeURIComponent(req.url!.split('/@connections/')[1]!);
  calls.set(id, (calls.get(id) ?? 0) + 1);
  received.push({ id, body, authorization: req.headers.authorization });
  const nth = calls.get(id)!;
  if (id.startsWith('ok')) return { status: 200 };
  if (id.startsWith('gone')) return { status: 410, type: 'GoneException' };
  if (id.startsWith('flaky'))
    return nth === 1 ? { status: 500, type: 'InternalServerErrorException' } : { status: 200 };
  if (id.startsWith('broken')) return { status: 500, type: 'InternalServerErrorException' };
  if (id.startsWith('forbidden')) return { status: 403, type: 'ForbiddenException' };
  if (id.startsWith('stuck')) return undefined;
  throw new Error(`unexpected id ${id}`);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = answer(req, Buffer.concat(chunks).toString('utf8'));
      if (!a) return; // never answers
      const headers: Record<string, string> = { 'x-amzn-RequestId': 'r' };
      if (a.type) Object.assign(headers, { 'content-type': 'application/json', 'x-amzn-ErrorType': a.type });
      res.writeHead(a.status, headers).end(a.type ? JSON.stringify({ message: a.type }) : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const frame = { type: 'pong', data: {} } as const;

describe('ManagementApiPublisher', () => {
  it('posts the frame, signed for execute-api, to each connection once; 410 is gone, 5xx is retried once', async () => {
    const failures: string[] = [];
    const publisher = new ManagementApiPublisher(endpoint, (id) => failures.push(id));
    const ids = ['ok-1', 'ok-2', 'gone-1', 'flaky-1', 'broken-1', 'forbidden-1'];
    const outcome = await publisher.publish({ connectionIds: ids, frame });
    expect(outcome).toEqual({ delivered: 3, gone: ['gone-1'], failed: 2 });
    expect(failures.sort()).toEqual(['broken-1', 'forbidden-1']);
    expect(Object.fromEntries(ids.map((id) => [id, calls.get(id)]))).toEqual({
      'ok-1': 1,
      'ok-2': 1,
      'gone-1': 1,
      'flaky-1': 2,
      'broken-1': 2,
      'forbidden-1': 1,
    });
    const first = received.find((r) => r.id === 'ok-1')!;
    expect(JSON.parse(first.body)).toEqual(frame);
    expect(first.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/us-east-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
  });

  it('gives up on a stuck call at its deadline, without throwing, and delivers the others', async () => {
    const failures: Array<{ id: string; error: unknown }> = [];
    const publisher = new ManagementApiPublisher(endpoint, (id, error) => failures.push({ id, error }));
    const started = Date.now();
    const outcome = await publisher.publish({ connectionIds: ['ok-3', 'stuck-1'], frame });
    const took = Date.now() - started;
    expect(outcome).toEqual({ delivered: 1, gone: [], failed: 1 });
    expect(failures.map((f) => [f.id, (f.error as { code?: string }).code])).toEqual([['stuck-1', 'ETIMEDOUT']]);
    // One deadline (3 s) for the publish, and no retry after it.
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(6000);
    expect(calls.get('stuck-1')).toBe(1);
  });

  it('publishes nothing and never throws when there are no credentials to sign with', async () => {
    const failures: string[] = [];
    const saved = { ...process.env };
    // An empty chain: no keys, no profile, no container or instance metadata.
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
      delete process.env[name];
    process.env.AWS_CONFIG_FILE = '/nonexistent';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent';
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    try {
      const publisher = new ManagementApiPublisher(endpoint, (id) => failures.push(id));
      const before = calls.get('ok-4') ?? 0;
      const outcome = await publisher.publish({ connectionIds: ['ok-4'], frame });
      expect(outcome).toEqual({ delivered: 0, gone: [], failed: 1 });
      expect(failures).toEqual(['ok-4']);
      expect(calls.get('ok-4') ?? 0).toBe(before);
    } finally {
      process.env = saved;
    }
  });
});
