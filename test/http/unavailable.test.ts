import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../lib/db/create-database';
import { localAuthConfig, signLocalToken } from '../../lib/local/local-auth';
import { type LocalServer, startLocalServer } from '../../lib/local/local-server';
import { installRuntime } from '../../lib/runtime';

/** A database that cannot be reached: every request answers 503 with Retry-After and a JSON error. */
let server: LocalServer;
let database: DatabaseHandle;
const auth = localAuthConfig({ LOCAL_JWT_KEY_FILE: join(tmpdir(), `messaging-unavailable-${randomUUID()}.json`) });

beforeAll(async () => {
  // Port 1 on loopback: nothing listens there, so connecting is refused at once.
  database = await createDatabase({
    kind: 'postgres',
    connectionString: 'postgres://postgres@127.0.0.1:1/none',
    poolSize: 1,
  });
  installRuntime(database);
  server = await startLocalServer({
    port: 0,
    auth,
    events: { busName: 'default', source: 'order-service', maxAttempts: 1, retryDelayMs: 1 },
  });
});
afterAll(async () => {
  await server?.close();
  await database?.close();
});

it('answers 503 with Retry-After when the database cannot be reached', async () => {
  const token = await signLocalToken(auth, { sub: randomUUID() });
  for (const [method, path, body] of [
    ['GET', '/v1/messages/conversations', undefined],
    ['POST', '/v1/messages/conversations', { type: 'general' }],
  ] as const) {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  }
});
