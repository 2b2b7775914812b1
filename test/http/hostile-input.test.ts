import { randomUUID } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as sendMessage } from '../../functions/http/send-message';
import { TestStack, type TestUser } from '../support/http-stack';
import { backend } from '../support/test-database';

/**
 * Input that passes validation must be input PostgreSQL accepts: anything else is refused with a
 * 4xx JSON error (requests) or as malformed (events), never a 500 or a dead-lettered SQL error.
 * And bytes that are not UTF-8 are refused, never stored as U+FFFD.
 */
let stack: TestStack;
let eventBridge: EventBridgeClient;

beforeAll(async () => {
  stack = await TestStack.start();
  eventBridge = stack.eventBridge();
});
afterAll(async () => {
  await stack?.close();
});

const conversations = '/v1/messages/conversations';
const admin = '/v1/admin/messages/conversations';

async function conversationOf(user: TestUser) {
  const created = await stack.request('POST', conversations, {
    token: user.token,
    body: { type: 'general', subject: 'x' },
  });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

async function storedContents(conversationId: string): Promise<string[]> {
  const { rows } = await sql<{ content: string }>`
    SELECT content FROM messages WHERE conversation_id = cast(${conversationId} as uuid) ORDER BY seq
  `.execute(stack.database.db);
  return rows.map((r) => r.content);
}

/** Raw bytes, as a client that does not encode for us would send them. */
async function sendBytes(path: string, token: string, bytes: Buffer, contentType = 'application/json') {
  const response = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body: bytes,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) : undefined };
}

const forgedCursor = (activityAt: string) => Buffer.from(`${activityAt}|${randomUUID()}`, 'utf8').toString('base64url');

describe(`hostile input on ${backend}`, () => {
  it('refuses updatedSince offsets beyond ±15:59 with 400, and accepts ±15:59', async () => {
    const alice = await stack.user();
    const root = await stack.user(['admin']);
    for (const offset of ['+16:00', '-16:00', '+23:59', '-23:59', '+20:30']) {
      const since = encodeURIComponent(`2026-01-01T00:00:00${offset}`);
      for (const [path, token] of [
        [`${conversations}?updatedSince=${since}`, alice.token],
        [`${admin}?updatedSince=${since}`, root.token],
      ] as const) {
        const response = await stack.request('GET', path, { token });
        expect({ offset, path, status: response.status, code: response.body?.error?.code }).toEqual({
          offset,
          path,
          status: 400,
          code: 'invalid_input',
        });
      }
    }
    for (const offset of ['+15:59', '-15:59', 'Z']) {
      const since = encodeURIComponent(`2000-01-01T00:00:00${offset}`);
      expect(
        (await stack.request('GET', `${conversations}?updatedSince=${since}`, { token: alice.token })).status,
      ).toBe(200);
      expect((await stack.request('GET', `${admin}?updatedSince=${since}`, { token: root.token })).status).toBe(200);
    }
  });

  it('refuses forged inbox cursors whose time PostgreSQL cannot read with 400', async () => {
    const alice = await stack.user();
    const root = await stack.user(['admin']);
    for (const at of [
      '0000-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
      '2026-01-01T00:00:00+16:00',
    ]) {
      for (const [path, token] of [
        [`${conversations}?cursor=${forgedCursor(at)}`, alice.token],
        [`${admin}?cursor=${forgedCursor(at)}`, root.token],
      ] as const) {
        const response = await stack.request('GET', path, { token });
        expect({ at, path, status: response.status, code: response.body?.error?.code }).toEqual({
          at,
          path,
          status: 400,
          code: 'invalid_input',
        });
      }
    }
    // A real cursor still pages.
    await conversationOf(alice);
    await conversationOf(alice);
    const first = await stack.request('GET', `${conversations}?limit=1`, { token: alice.token });
    expect(first.body.nextCursor).toEqual(expect.any(String));
    expect(
      (await stack.request('GET', `${conversations}?limit=1&cursor=${first.body.nextCursor}`, { token: alice.token }))
        .status,
    ).toBe(200);
  });

  it('answers a malformed percent escape in the path with a 4xx JSON error, as API Gateway does, not 500', async () => {
    const alice = await stack.user();
    for (const path of [
      `${conversations}/%ZZ`,
      `${conversations}/%ZZ/messages`,
      `${conversations}/%C3%28`,
      '/v1/messages/%E0%A4%A/read',
      '/nowhere/%',
    ]) {
      const response = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${alice.token}` } });
      const text = await response.text();
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(JSON.parse(text)).toEqual({ message: 'Bad Request' });
    }
    // A well-formed escape is still decoded: %2D is "-".
    const id = await conversationOf(alice);
    const escaped = id.replace(/-/g, '%2D');
    expect((await stack.request('GET', `${conversations}/${escaped}`, { token: alice.token })).status).toBe(200);
  });

  it('refuses a body whose bytes are not UTF-8 with 400 and stores nothing (no U+FFFD)', async () => {
    const alice = await stack.user();
    const id = await conversationOf(alice);
    const json = (...parts: Array<string | number[]>) =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
    const cases: Record<string, Buffer> = {
      'a lone 0xFF byte': json('{"content":"a', [0xff], 'b"}'),
      'a Latin-1 é': json('{"content":"caf', [0xe9], '"}'),
      'an overlong slash': json('{"content":"a', [0xc0, 0xaf], 'b"}'),
      'a UTF-8-encoded lone surrogate': json('{"content":"a', [0xed, 0xa0, 0x80], 'b"}'),
      'a truncated sequence': json('{"content":"a', [0xe2, 0x82], '"}'),
      'invalid bytes in the clientMessageId': json('{"content":"ok","clientMessageId":"k', [0xfe], '"}'),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const response = await sendBytes(`${conversations}/${id}/messages`, alice.token, bytes);
      expect({ name, status: response.status, code: response.body?.error?.code }).toEqual({
        name,
        status: 400,
        code: 'invalid_encoding',
      });
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // The same refusal with a charset parameter, and for a conversation subject.
    const withCharset = await sendBytes(
      `${conversations}/${id}/messages`,
      alice.token,
      cases['a Latin-1 é']!,
      'application/json; charset=utf-8',
    );
    expect(withCharset.status).toBe(400);
    const subject = await sendBytes(conversations, alice.token, json('{"type":"general","subject":"caf', [0xe9], '"}'));
    expect(subject.status).toBe(400);
    expect(await storedContents(id)).toEqual([]);

    // Valid UTF-8 (every plane) is stored byte for byte; a body that is not JSON at all is still 415.
    const fine = await sendBytes(
      `${conversations}/${id}/messages`,
      alice.token,
      Buffer.from('{"content":"café ✓ 😀"}', 'utf8'),
    );
    expect(fine.status).toBe(201);
    expect(await storedContents(id)).toEqual(['café ✓ 😀']);
    const binary = await sendBytes(
      `${conversations}/${id}/messages`,
      alice.token,
      Buffer.from([0xff, 0xd8, 0xff]),
      'image/jpeg',
    );
    expect(binary.status).toBe(415);
  });

  it('refuses invalid text at the Lambda too, for a base64 body and for lone surrogates in a string body', async () => {
    const alice = await stack.user();
    const id = await conversationOf(alice);
    const event = (body: string, isBase64Encoded: boolean) =>
      ({
        version: '2.0',
        routeKey: 'POST /v1/messages/conversations/{id}/messages',
        rawPath: `${conversations}/${id}/messages`,
        rawQueryString: '',
        headers: { 'content-type': 'application/json' },
        pathParameters: { id },
        requestContext: {
          requestId: randomUUID(),
          authorizer: { jwt: { claims: { sub: alice.id }, scopes: [] } },
          http: { method: 'POST', path: `${conversations}/${id}/messages` },
        },
        body,
        isBase64Encoded,
      }) as never;
    const context = { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => 10_000 } as never;
    const bad = Buffer.concat([Buffer.from('{"content":"a'), Buffer.from([0xff]), Buffer.from('"}')]).toString(
      'base64',
    );
    const fromBase64 = await sendMessage(event(bad, true), context);
    expect(fromBase64.statusCode).toBe(400);
    expect(JSON.parse(fromBase64.body!).error.code).toBe('invalid_encoding');
    const surrogate = await sendMessage(event('{"content":"a\ud800b"}', false), context);
    expect(surrogate.statusCode).toBe(400);
    expect(JSON.parse(surrogate.body!).error.code).toBe('invalid_encoding');
    const good = await sendMessage(event(Buffer.from('{"content":"ok ✓"}').toString('base64'), true), context);
    expect(good.statusCode).toBe(201);
    expect(await storedContents(id)).toEqual(['ok ✓']);
  });

  it('fails an OrderStatusChanged whose changedAt PostgreSQL cannot read as malformed, writing nothing', async () => {
    const orderId = randomUUID();
    const before = stack.server.bus.report().failed.length;
    const ids: string[] = [];
    for (const changedAt of ['2026-01-01T00:00:00+16:00', '2026-01-01T00:00:00-23:59', '0000-01-01T00:00:00Z']) {
      const out = await eventBridge.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: 'order-service',
              DetailType: 'OrderStatusChanged',
              Detail: JSON.stringify({ orderId, status: 'paid', changedAt }),
            },
          ],
        }),
      );
      expect(out.FailedEntryCount).toBe(0);
      ids.push(out.Entries![0]!.EventId!);
    }
    await stack.server.bus.drain();
    const failed = stack.server.bus.report().failed.slice(before);
    expect(failed.map((f) => f.eventId).sort()).toEqual([...ids].sort());
    for (const failure of failed) expect(failure.error).toMatch(/^Malformed event .*changedAt/);
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM orders WHERE id = cast(${orderId} as uuid)`.execute(stack.database.db);
    expect(rows[0]!.n).toBe(0);

    // The edge itself is applied.
    const ok = await eventBridge.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'order-service',
            DetailType: 'OrderStatusChanged',
            Detail: JSON.stringify({ orderId, status: 'paid', changedAt: '2026-01-01T00:00:00+15:59' }),
          },
        ],
      }),
    );
    expect(ok.FailedEntryCount).toBe(0);
    await stack.server.bus.drain();
    expect(stack.server.bus.report().failed.length).toBe(before + ids.length);
  });
});
