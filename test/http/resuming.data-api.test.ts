import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createDatabase } from '../../lib/db/create-database';
import { type DataApiStandIn, startDataApiStandIn } from '../support/data-api-standin';
import { TestStack } from '../support/http-stack';
import { testDatabaseConfig } from '../support/test-database';

/**
 * Aurora Serverless v2 paused at zero capacity answers DatabaseResumingException while it wakes.
 * A request retries with backoff within its budget (3 s here); past it, 503 with Retry-After
 * and nothing written. A stand-in of its own, so other test files never see the resume.
 */
let standIn: DataApiStandIn;
let stack: TestStack;

beforeAll(async () => {
  standIn = await startDataApiStandIn(inject('databaseUrl'));
  const config = testDatabaseConfig();
  if (config.kind !== 'data-api') throw new Error('this file runs with TEST_BACKEND=data-api');
  stack = await TestStack.start(await createDatabase({ ...config, endpoint: standIn.endpoint, resumeRetryMs: 3_000 }));
});
afterAll(async () => {
  await stack?.close();
  await standIn?.close();
});

it('retries through a short resume and answers 503 with Retry-After, writing nothing, past the budget', async () => {
  const alice = await stack.user();
  const created = await stack.request('POST', '/v1/messages/conversations', {
    token: alice.token,
    body: { type: 'general' },
  });
  const path = `/v1/messages/conversations/${created.body.id}/messages`;

  standIn.resumingFor(1_000);
  const startedAt = Date.now();
  const during = await stack.request('POST', path, { token: alice.token, body: { content: 'while resuming' } });
  expect(during.status).toBe(201);
  expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);

  standIn.resumingFor(10_000);
  const refused = await stack.request('POST', path, { token: alice.token, body: { content: 'too long a resume' } });
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe('5');
  expect(refused.body.error.code).toBe('unavailable');

  standIn.resumingFor(0);
  const page = await stack.request('GET', path, { token: alice.token });
  expect(page.body.items.map((m: { content: string }) => m.content)).toEqual(['while resuming']);
});
