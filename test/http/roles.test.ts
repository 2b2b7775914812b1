import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack } from '../support/http-stack';
import { backend } from '../support/test-database';

let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start();
});
afterAll(async () => stack?.close());

describe(`roles follow the caller's groups on ${backend}`, () => {
  it('stores a demoted admin as a user again, in the same container', async () => {
    const id = randomUUID();
    const other = await stack.user();
    const roleIn = async (groups: string[]) => {
      const created = await stack.request('POST', '/v1/messages/conversations', {
        token: await stack.token(id, groups),
        body: { type: 'general', participantIds: [other.id] },
      });
      expect(created.status).toBe(201);
      return (created.body.participants as Array<{ userId: string; role: string }>).find((p) => p.userId === id)!.role;
    };
    expect(await roleIn([])).toBe('user');
    expect(await roleIn(['admin'])).toBe('admin');
    expect(await roleIn([])).toBe('user');
    expect(await roleIn(['agent'])).toBe('agent');
  });
});
