import { randomUUID } from 'node:crypto';
import { generateKeyPair, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateKey } from '../../lib/local/local-auth';
import { MAX_OFFSET } from '../../lib/messaging/limits';
import { TestStack, type TestUser } from '../support/http-stack';
import { backend } from '../support/test-database';

type SigningKey = Parameters<SignJWT['sign']>[0];

let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start();
});
afterAll(async () => stack?.close());

const conversations = '/v1/messages/conversations';

const conversationBetween = (creator: TestUser, ...others: TestUser[]) => stack.conversation(creator, others, 'Hi');

async function messageCount(user: TestUser, conversationId: string) {
  const page = await stack.request('GET', `${conversations}/${conversationId}/messages?limit=100`, {
    token: user.token,
  });
  return (page.body.items as unknown[]).length;
}

describe(`HTTP API through the local stack on ${backend}`, () => {
  it('serves every endpoint on its success path, with the security headers on every response', async () => {
    const alice = await stack.user();
    const bob = await stack.user(['agent']);
    const carol = await stack.user(['service_provider']);
    const admin = await stack.user(['admin']);

    const created = await stack.request('POST', conversations, {
      token: alice.token,
      body: { type: 'support', subject: 'Broken tap', participantIds: [bob.id] },
    });
    expect(created.status).toBe(201);
    expect(created.body.participants.map((p: { role: string }) => p.role).sort()).toEqual(['agent', 'user']);
    const id = created.body.id;

    const sent = await stack.request('POST', `${conversations}/${id}/messages`, {
      token: alice.token,
      body: { content: 'It drips', clientMessageId: 'tap-1' },
    });
    expect(sent.status).toBe(201);
    expect(Object.keys(sent.body).sort()).toEqual(
      [
        'attachments',
        'clientMessageId',
        'content',
        'conversationId',
        'createdAt',
        'deletedAt',
        'editedAt',
        'id',
        'kind',
        'reactions',
        'readAt',
        'replyTo',
        'revision',
        'senderId',
        'updatedAt',
      ].sort(),
    );
    const retried = await stack.request('POST', `${conversations}/${id}/messages`, {
      token: alice.token,
      body: { content: 'It drips', clientMessageId: 'tap-1' },
    });
    expect(retried.status).toBe(200);
    expect(retried.body.id).toBe(sent.body.id);

    const list = await stack.request('GET', `${conversations}?type=support`, { token: bob.token });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({
      items: [{ id, unreadCount: 1, lastMessage: { content: 'It drips' } }],
      nextCursor: null,
    });

    const one = await stack.request('GET', `${conversations}/${id}`, { token: bob.token });
    expect(one.status).toBe(200);
    expect(one.body.id).toBe(id);

    const messages = await stack.request('GET', `${conversations}/${id}/messages?limit=10`, { token: bob.token });
    expect(messages.status).toBe(200);
    expect(messages.body.items.map((m: { id: string }) => m.id)).toEqual([sent.body.id]);

    expect((await stack.request('GET', '/v1/messages/unread', { token: bob.token })).body).toEqual({
      unreadCount: 1,
      conversationCount: 1,
    });
    const readOne = await stack.request('PATCH', `/v1/messages/${sent.body.id}/read`, { token: bob.token });
    expect(readOne.status).toBe(200);
    expect(readOne.body.readAt).not.toBeNull();
    const readAll = await stack.request('PATCH', `${conversations}/${id}/read`, { token: bob.token });
    expect(readAll.status).toBe(200);
    expect(readAll.body).toMatchObject({ conversationId: id, unreadCount: 0 });

    const added = await stack.request('POST', `${conversations}/${id}/participants`, {
      token: bob.token,
      body: { userId: carol.id },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ userId: carol.id, role: 'service_provider' });
    const again = await stack.request('POST', `${conversations}/${id}/participants`, {
      token: bob.token,
      body: { userId: carol.id },
    });
    expect(again.status).toBe(200);
    const left = await stack.request('DELETE', `${conversations}/${id}/participants/${carol.id}`, {
      token: carol.token,
    });
    expect(left.status).toBe(204);
    expect(left.text).toBe('');

    const adminList = await stack.request(
      'GET',
      `/v1/admin/messages/conversations?participantId=${alice.id}&status=active`,
      { token: admin.token },
    );
    expect(adminList.status).toBe(200);
    expect(adminList.body.items.map((c: { id: string }) => c.id)).toEqual([id]);
    const adminOne = await stack.request('GET', `/v1/admin/messages/conversations/${id}`, { token: admin.token });
    expect(adminOne.status).toBe(200);
    expect(adminOne.body.unreadCount).toBeNull();
    const closed = await stack.request('PATCH', `/v1/admin/messages/conversations/${id}`, {
      token: admin.token,
      body: { status: 'closed' },
    });
    expect(closed.status).toBe(200);
    expect(closed.body.status).toBe('closed');
    const refused = await stack.request('POST', `${conversations}/${id}/messages`, {
      token: alice.token,
      body: { content: 'late' },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('conversation_closed');

    for (const response of [created, sent, list, one, messages, readOne, readAll, added, left, adminList, refused]) {
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('returns a <script> payload byte for byte inside JSON, never as HTML', async () => {
    const alice = await stack.user();
    const id = await conversationBetween(alice);
    const payload = '<script>alert("x")</script><img src=x onerror=alert(1)> & \u2028 😀';
    const sent = await stack.request('POST', `${conversations}/${id}/messages`, {
      token: alice.token,
      body: { content: payload },
    });
    expect(sent.status).toBe(201);
    const page = await stack.request('GET', `${conversations}/${id}/messages`, { token: alice.token });
    expect(page.body.items[0].content).toBe(payload);
    expect(Buffer.from(page.body.items[0].content, 'utf8').equals(Buffer.from(payload, 'utf8'))).toBe(true);
    expect(page.headers.get('content-type')).toMatch(/^application\/json/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('enforces the authorization matrix', async () => {
    const owner = await stack.user();
    const member = await stack.user();
    const stranger = await stack.user();
    const removed = await stack.user();
    const admin = await stack.user(['admin']);
    const newcomer = await stack.user();
    const id = await conversationBetween(owner, member, removed);
    const message = await stack.request('POST', `${conversations}/${id}/messages`, {
      token: owner.token,
      body: { content: 'hello' },
    });
    expect(
      (await stack.request('DELETE', `${conversations}/${id}/participants/${removed.id}`, { token: removed.token }))
        .status,
    ).toBe(204);

    const actions = {
      get: (u: TestUser, c: string) => stack.request('GET', `${conversations}/${c}`, { token: u.token }),
      listMessages: (u: TestUser, c: string) =>
        stack.request('GET', `${conversations}/${c}/messages`, { token: u.token }),
      send: (u: TestUser, c: string) =>
        stack.request('POST', `${conversations}/${c}/messages`, { token: u.token, body: { content: 'x' } }),
      markMessageRead: (u: TestUser, c: string) =>
        stack.request('PATCH', `/v1/messages/${c === id ? message.body.id : randomUUID()}/read`, { token: u.token }),
      markAllRead: (u: TestUser, c: string) => stack.request('PATCH', `${conversations}/${c}/read`, { token: u.token }),
      addParticipant: (u: TestUser, c: string) =>
        stack.request('POST', `${conversations}/${c}/participants`, { token: u.token, body: { userId: newcomer.id } }),
    };
    const expected: Record<string, Record<keyof typeof actions, number>> = {
      'no such conversation': {
        get: 404,
        listMessages: 404,
        send: 404,
        markMessageRead: 404,
        markAllRead: 404,
        addParticipant: 404,
      },
      'not a participant': {
        get: 404,
        listMessages: 404,
        send: 404,
        markMessageRead: 404,
        markAllRead: 404,
        addParticipant: 404,
      },
      participant: {
        get: 200,
        listMessages: 200,
        send: 201,
        markMessageRead: 200,
        markAllRead: 200,
        addParticipant: 201,
      },
      'removed participant': {
        get: 404,
        listMessages: 404,
        send: 404,
        markMessageRead: 404,
        markAllRead: 404,
        addParticipant: 404,
      },
      // Admins read everything, and may add people anywhere; to write they join first.
      admin: { get: 200, listMessages: 200, send: 404, markMessageRead: 404, markAllRead: 404, addParticipant: 200 },
    };
    const who: Record<string, [TestUser, string]> = {
      'no such conversation': [member, randomUUID()],
      'not a participant': [stranger, id],
      participant: [member, id],
      'removed participant': [removed, id],
      admin: [admin, id],
    };
    const notFoundBodies = new Set<string>();
    const actual: Record<string, Record<string, number>> = {};
    for (const [row, [user, conversationId]] of Object.entries(who)) {
      actual[row] = {};
      for (const [name, act] of Object.entries(actions)) {
        const response = await act(user, conversationId);
        actual[row]![name] = response.status;
        if (response.status === 404 && name !== 'markMessageRead') notFoundBodies.add(response.text);
      }
    }
    expect(actual).toEqual(expected);
    // A conversation that does not exist and one the caller may not see answer the same body.
    expect([...notFoundBodies]).toEqual([
      JSON.stringify({ error: { code: 'not_found', message: 'Conversation not found' } }),
    ]);

    const forbidden = await stack.request('GET', '/v1/admin/messages/conversations', { token: member.token });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('forbidden');
    const kick = await stack.request('DELETE', `${conversations}/${id}/participants/${owner.id}`, {
      token: member.token,
    });
    expect(kick.status).toBe(403);
  });

  describe('tokens', () => {
    const path = '/v1/messages/unread';
    const sub = randomUUID();

    async function signWith(key: SigningKey, alg: string, claims: Record<string, unknown>, kid?: string) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ sub, client_id: stack.auth.audience, token_use: 'access', ...claims })
        .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
        .setIssuer((claims.iss as string) ?? stack.auth.issuer)
        .setIssuedAt(now)
        .setExpirationTime((claims.exp as number) ?? now + 600)
        .sign(key);
    }

    it('accepts a valid token and refuses each bad one with 401 as API Gateway does', async () => {
      const { privateJwk } = await loadOrCreateKey(stack.auth.keyFile);
      const ourKey = (await importJWK(privateJwk, 'RS256')) as SigningKey;
      const other = await generateKeyPair('RS256');
      const now = Math.floor(Date.now() / 1000);
      const unsigned = (payload: object) =>
        `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

      const valid = await signWith(ourKey, 'RS256', {}, privateJwk.kid);
      expect((await stack.request('GET', path, { token: valid })).status).toBe(200);

      const bad: Record<string, string | undefined> = {
        none: undefined,
        expired: await signWith(ourKey, 'RS256', { exp: now - 60 }, privateJwk.kid),
        'wrong issuer': await signWith(
          ourKey,
          'RS256',
          { iss: 'https://cognito-idp.us-east-1.amazonaws.com/other' },
          privateJwk.kid,
        ),
        'wrong audience': await signWith(ourKey, 'RS256', { client_id: 'someone-else' }, privateJwk.kid),
        'alg none': unsigned({ sub, iss: stack.auth.issuer, client_id: stack.auth.audience, exp: now + 600 }),
        'another key': await signWith(other.privateKey, 'RS256', {}, privateJwk.kid),
        'HS256 with the public key as secret': await signWith(
          new TextEncoder().encode(JSON.stringify(privateJwk.n)),
          'HS256',
          {},
          privateJwk.kid,
        ),
        garbage: 'not-a-jwt',
      };
      for (const [name, token] of Object.entries(bad)) {
        const response = await stack.request('GET', path, { token });
        expect({ name, status: response.status, body: response.body }).toEqual({
          name,
          status: 401,
          body: { message: 'Unauthorized' },
        });
      }
    });

    it('reads cognito:groups both flattened ("[admin agent]") and as an array', async () => {
      const admin = await stack.token(randomUUID(), ['agent', 'admin']);
      expect((await stack.request('GET', '/v1/admin/messages/conversations', { token: admin })).status).toBe(200);
      const agent = await stack.token(randomUUID(), ['agent']);
      expect((await stack.request('GET', '/v1/admin/messages/conversations', { token: agent })).status).toBe(403);
    });
  });

  describe('bad input answers 4xx with a JSON error and stores nothing', () => {
    it('refuses bad bodies on send', async () => {
      const alice = await stack.user();
      const id = await conversationBetween(alice);
      const send = (options: { body?: unknown; rawBody?: string; headers?: Record<string, string> }) =>
        stack.request('POST', `${conversations}/${id}/messages`, { token: alice.token, ...options });
      const cases: Array<[string, Parameters<typeof send>[0], number, string]> = [
        [
          'not JSON',
          { rawBody: '{"content": "x"', headers: { 'content-type': 'application/json' } },
          400,
          'invalid_json',
        ],
        [
          'wrong content type',
          { rawBody: 'content=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          415,
          'unsupported_media_type',
        ],
        ['no content type', { rawBody: '{"content":"x"}' }, 415, 'unsupported_media_type'],
        ['extra field', { body: { content: 'x', colour: 'red' } }, 400, 'invalid_input'],
        ['server-owned senderId', { body: { content: 'x', senderId: randomUUID() } }, 400, 'invalid_input'],
        [
          'server-owned createdAt',
          { body: { content: 'x', createdAt: new Date().toISOString() } },
          400,
          'invalid_input',
        ],
        ['server-owned id', { body: { content: 'x', id: randomUUID() } }, 400, 'invalid_input'],
        ['server-owned kind', { body: { content: 'x', kind: 'system' } }, 400, 'invalid_input'],
        ['NUL', { body: { content: 'a\u0000b' } }, 400, 'invalid_input'],
        [
          'lone surrogate',
          { rawBody: '{"content":"a\\ud800b"}', headers: { 'content-type': 'application/json' } },
          400,
          'invalid_input',
        ],
        ['only white space', { body: { content: ' \n\t ' } }, 400, 'invalid_input'],
        ['one code point over the limit', { body: { content: '😀'.repeat(10_001) } }, 400, 'invalid_input'],
        ['content not a string', { body: { content: 42 } }, 400, 'invalid_input'],
        ['an array body', { body: [{ content: 'x' }] }, 400, 'invalid_input'],
        ['bad clientMessageId', { body: { content: 'x', clientMessageId: 'has space' } }, 400, 'invalid_input'],
        ['body over the size limit', { body: { content: 'x'.repeat(300 * 1024) } }, 413, 'payload_too_large'],
      ];
      for (const [name, options, status, code] of cases) {
        const response = await send(options);
        expect({ name, status: response.status, code: response.body?.error?.code }).toEqual({ name, status, code });
        expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      }
      expect(await messageCount(alice, id)).toBe(0);
      // The limit itself is fine: 10,000 four-byte emoji.
      expect((await send({ body: { content: '😀'.repeat(10_000) } })).status).toBe(201);
    });

    it('refuses bad query strings, ids and cursors', async () => {
      const alice = await stack.user();
      const id = await conversationBetween(alice);
      const other = await conversationBetween(alice);
      const foreign = await stack.request('POST', `${conversations}/${other}/messages`, {
        token: alice.token,
        body: { content: 'x' },
      });
      const cases: Array<[string, string, string]> = [
        ['limit above the maximum', 'GET', `${conversations}/${id}/messages?limit=101`],
        ['limit zero', 'GET', `${conversations}?limit=0`],
        ['negative offset', 'GET', `${conversations}/${id}/messages?offset=-1`],
        ['offset past the cap', 'GET', `${conversations}/${id}/messages?offset=${MAX_OFFSET + 1}`],
        ['offset past the cap, conversations', 'GET', `${conversations}?offset=${MAX_OFFSET + 1}`],
        ['non-numeric limit', 'GET', `${conversations}?limit=ten`],
        ['unknown type filter', 'GET', `${conversations}?type=chat`],
        ['unknown query parameter', 'GET', `${conversations}?colour=red`],
        ['conversation id not a UUID', 'GET', `${conversations}/not-a-uuid`],
        ['message id not a UUID', 'PATCH', '/v1/messages/123/read'],
        ['cursor not a UUID', 'GET', `${conversations}/${id}/messages?before=abc`],
        [
          'both before and after',
          'GET',
          `${conversations}/${id}/messages?before=${foreign.body.id}&after=${foreign.body.id}`,
        ],
        ['a message id from another conversation', 'GET', `${conversations}/${id}/messages?before=${foreign.body.id}`],
        ['updatedSince not a date', 'GET', `${conversations}?updatedSince=yesterday`],
        ['bad conversation cursor', 'GET', `${conversations}?cursor=garbage`],
      ];
      for (const [name, method, path] of cases) {
        const response = await stack.request(method, path, { token: alice.token });
        expect({ name, status: response.status }).toEqual({ name, status: 400 });
        expect(response.body.error.code).toBe('invalid_input');
      }
      // The cap itself is still a page (empty past the end), on both lists.
      for (const path of [
        `${conversations}/${id}/messages?offset=${MAX_OFFSET}`,
        `${conversations}?offset=${MAX_OFFSET}`,
      ]) {
        const response = await stack.request('GET', path, { token: alice.token });
        expect({ path, status: response.status, items: response.body.items }).toEqual({ path, status: 200, items: [] });
      }
    });

    it('refuses bad conversation bodies and unknown participants without creating anything', async () => {
      const alice = await stack.user();
      const ghost = randomUUID();
      const before = await stack.request('GET', conversations, { token: alice.token });
      const cases: Array<[string, unknown, number]> = [
        ['unknown type', { type: 'chat' }, 400],
        ['participant id not a UUID', { type: 'general', participantIds: ['bob'] }, 400],
        ['order type without order', { type: 'order' }, 400],
        ['unknown order', { type: 'order', orderId: randomUUID() }, 404],
        ['unknown participant', { type: 'general', participantIds: [ghost] }, 422],
        ['server-owned status', { type: 'general', status: 'closed' }, 400],
        ['NUL in the subject', { type: 'general', subject: 'a\u0000b' }, 400],
        ['subject over 255 characters', { type: 'general', subject: 'x'.repeat(256) }, 400],
      ];
      for (const [name, body, status] of cases) {
        const response = await stack.request('POST', conversations, { token: alice.token, body });
        expect({ name, status: response.status }).toEqual({ name, status });
      }
      const unknown = await stack.request('POST', conversations, {
        token: alice.token,
        body: { type: 'general', participantIds: [ghost] },
      });
      expect(unknown.body.error).toEqual({
        code: 'unknown_users',
        message: `Unknown user ids: ${ghost}`,
        details: { userIds: [ghost] },
      });
      const after = await stack.request('GET', conversations, { token: alice.token });
      expect(after.body.items).toHaveLength(before.body.items.length);
    });
  });

  it('stores exactly the limit of 50 concurrent sends by one user and answers 429 with Retry-After to the rest', async () => {
    const alice = await stack.user();
    const bob = await stack.user();
    const id = await conversationBetween(alice, bob);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        stack.request('POST', `${conversations}/${id}/messages`, {
          token: alice.token,
          body: { content: `burst ${i}` },
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
    for (const r of results.filter((x) => x.status === 429)) {
      const retryAfter = Number(r.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(10);
      expect(r.body.error.code).toBe('rate_limited');
    }
    expect(await messageCount(bob, id)).toBe(20);
    expect(
      (
        await stack.request('POST', `${conversations}/${id}/messages`, {
          token: bob.token,
          body: { content: 'me too' },
        })
      ).status,
    ).toBe(201);
  });

  it('answers routes the gateway does not know with 404', async () => {
    const alice = await stack.user();
    const response = await stack.request('GET', '/v1/nothing', { token: alice.token });
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ message: 'Not Found' });
  });
});
