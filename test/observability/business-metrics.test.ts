import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { uuid } from '../../lib/db/casts';
import type { TestStack } from '../support/http-stack';
import { openPrivateTestDatabase } from '../support/test-database';

/**
 * The business metrics, as CloudWatch would extract them: EMF directives on the JSON log lines the
 * functions write anyway, produced by real requests through the local API and real event
 * handlers on this run's database.
 */
let stack: TestStack;
const lines: string[] = [];

interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit?: string }>;
    }>;
  };
  [key: string]: unknown;
}

/** Every metric CloudWatch would extract from the captured lines, checked against the EMF specification's rules. */
function extracted(): Array<{ namespace: string; name: string; value: number; dimensions: Record<string, string> }> {
  const out: Array<{ namespace: string; name: string; value: number; dimensions: Record<string, string> }> = [];
  for (const line of lines) {
    const record = JSON.parse(line) as Emf;
    if (!record._aws) continue;
    expect(Number.isInteger(record._aws.Timestamp)).toBe(true);
    for (const directive of record._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) for (const key of set) expect(typeof record[key]).toBe('string');
      for (const metric of directive.Metrics) {
        expect(typeof record[metric.Name]).toBe('number');
        const dimensions = Object.fromEntries(directive.Dimensions.flat().map((key) => [key, record[key] as string]));
        out.push({
          namespace: directive.Namespace,
          name: metric.Name,
          value: record[metric.Name] as number,
          dimensions,
        });
      }
    }
  }
  return out;
}

const count = (name: string) =>
  extracted()
    .filter((m) => m.name === name)
    .reduce((sum, m) => sum + m.value, 0);

beforeAll(async () => {
  vi.stubEnv('LOG_LEVEL', 'info');
  vi.stubEnv('SEND_RATE_LIMIT', '2');
  vi.stubEnv('STAGE', 'test');
  // Imported after the stubs: functions read the environment once, when their module loads.
  const { TestStack } = await import('../support/http-stack');
  // Its own database: its digest sweep must find this file's digests only, and no other stack its.
  stack = await TestStack.start(await openPrivateTestDatabase('metrics'));
  const capture = (chunk: string | Uint8Array) => {
    lines.push(
      ...String(chunk)
        .split('\n')
        .filter((line) => line.startsWith('{')),
    );
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture as never);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture as never);
});
afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await stack?.close();
});

describe('business metrics in embedded metric format', () => {
  it('counts messages sent (201 only, not idempotent retries) and sends refused by the rate limit', async () => {
    const alice = await stack.user();
    const conversation = await stack.request('POST', '/v1/messages/conversations', {
      token: alice.token,
      body: { type: 'general' },
    });
    const path = `/v1/messages/conversations/${conversation.body.id}/messages`;
    expect(
      (await stack.request('POST', path, { token: alice.token, body: { content: 'one', clientMessageId: 'm-1' } }))
        .status,
    ).toBe(201);
    expect(
      (await stack.request('POST', path, { token: alice.token, body: { content: 'one', clientMessageId: 'm-1' } }))
        .status,
    ).toBe(200);
    expect((await stack.request('POST', path, { token: alice.token, body: { content: 'two' } })).status).toBe(201);
    expect((await stack.request('POST', path, { token: alice.token, body: { content: 'three' } })).status).toBe(429);
    expect(count('MessagesSent')).toBe(2);
    expect(count('SendsRateLimited')).toBe(1);
    for (const metric of extracted())
      expect(metric).toMatchObject({ namespace: 'Messaging', dimensions: { Stage: 'test' } });
  });

  it('counts order events applied and ignored as stale', async () => {
    const { handler: onOrderCreated } = await import('../../functions/events/on-order-created');
    const { handler: onStatusChanged } = await import('../../functions/events/on-order-status-changed');
    const orderId = randomUUID();
    const event = (detailType: string, detail: object) => ({
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source: 'order-service',
      account: '123456789012',
      time: new Date().toISOString(),
      region: 'eu-west-1',
      resources: [],
      detail,
    });
    const before = { applied: count('OrderEventsApplied'), ignored: count('OrderEventsIgnored') };
    await onOrderCreated(event('OrderCreated', { orderId, userId: randomUUID() }));
    await onStatusChanged(event('OrderStatusChanged', { orderId, status: 'scheduled', version: 3 }));
    await onStatusChanged(event('OrderStatusChanged', { orderId, status: 'placed', version: 2 }));
    expect(count('OrderEventsApplied') - before.applied).toBe(2);
    expect(count('OrderEventsIgnored') - before.ignored).toBe(1);
  });

  it('counts requests answered 503 because the database is unavailable', async () => {
    const { createDatabase } = await import('../../lib/db/create-database');
    const { installRuntime } = await import('../../lib/runtime');
    const { startLocalServer } = await import('../../lib/local/local-server');
    const { localAuthConfig, signLocalToken } = await import('../../lib/local/local-auth');
    // Port 1 on loopback: nothing listens there, so connecting is refused at once.
    const unreachable = await createDatabase({
      kind: 'postgres',
      connectionString: 'postgres://app@127.0.0.1:1/none',
      poolSize: 1,
    });
    installRuntime(unreachable);
    const auth = localAuthConfig({ LOCAL_JWT_KEY_FILE: join(tmpdir(), `messaging-metrics-${randomUUID()}.json`) });
    const server = await startLocalServer({
      port: 0,
      auth,
      events: { busName: 'default', source: 'order-service', maxAttempts: 1, retryDelayMs: 1 },
    });
    try {
      const token = await signLocalToken(auth, { sub: randomUUID() });
      const before = count('DatabaseUnavailable');
      const response = await fetch(`${server.url}/v1/messages/unread`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(503);
      expect(count('DatabaseUnavailable') - before).toBe(1);
    } finally {
      await server.close();
      await unreachable.close();
      installRuntime(stack.database);
    }
  });

  it('counts digest emails sent and not sent, as each sweep logs them', async () => {
    const sender = await stack.user();
    const readers = [await stack.user(), await stack.user()];
    await sql`UPDATE users SET email = id || '@example.test'
               WHERE id IN (${uuid(readers[0]!.id)}, ${uuid(readers[1]!.id)})`.execute(stack.database.db);
    const created = await stack.request('POST', '/v1/messages/conversations', {
      token: sender.token,
      body: { type: 'general', participantIds: readers.map((r) => r.id) },
    });
    await stack.request('POST', `/v1/messages/conversations/${created.body.id}/messages`, {
      token: sender.token,
      body: { content: 'unread for a while' },
    });
    // Older than NOTIFY_DELAY_SECONDS (300): due now.
    await sql`UPDATE messages SET created_at = now() - interval '10 minutes'
               WHERE conversation_id = ${uuid(created.body.id)}`.execute(stack.database.db);
    const sent = count('DigestsSent');
    const notSent = count('DigestsNotSent');
    stack.server.notifications.ses.failNext(1);
    const run = await stack.server.notifications.sendDigests();
    expect(run).toMatchObject({ claimed: 2, sent: 1, deferred: 1 });
    expect(count('DigestsSent') - sent).toBe(1);
    expect(count('DigestsNotSent') - notSent).toBe(1);
  });
});
