import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { TestStack } from '../support/http-stack';

/** Request logs are structured JSON with the request and caller ids, and never hold content or tokens. */
let stack: TestStack;
const lines: string[] = [];

beforeAll(async () => {
  vi.stubEnv('LOG_LEVEL', 'info');
  // Imported after the stub: functions read the environment once, when their module loads.
  const { TestStack } = await import('../support/http-stack');
  stack = await TestStack.start();
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

it('logs each request as JSON with ids and status, without content, subjects or tokens', async () => {
  const alice = await stack.user();
  const secret = `secret-content-${Date.now()}`;
  const created = await stack.request('POST', '/v1/messages/conversations', {
    token: alice.token,
    body: { type: 'general', subject: `${secret}-subject` },
  });
  await stack.request('POST', `/v1/messages/conversations/${created.body.id}/messages`, {
    token: alice.token,
    body: { content: secret },
  });
  await stack.request('POST', `/v1/messages/conversations/${created.body.id}/messages`, {
    token: alice.token,
    body: { content: `${secret}\u0000` },
  });

  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const sends = records.filter((r) => r.route === 'send-message');
  expect(sends.map((r) => r.status)).toEqual([201, 400]);
  for (const record of records.filter((r) => r.message === 'request')) {
    expect(record).toMatchObject({ level: 'info', userId: alice.id });
    expect(typeof record.requestId).toBe('string');
    expect(typeof record.apiRequestId).toBe('string');
    expect(typeof record.durationMs).toBe('number');
  }
  const all = lines.join('\n');
  expect(all).not.toContain(secret);
  expect(all).not.toContain(alice.token);
  expect(all).not.toContain(alice.token.split('.')[2]!);
});
