import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { generateKeyPair, importJWK, type JWTPayload, SignJWT } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { loadOrCreateKey } from '../../lib/local/local-auth';
import { policyAllows } from '../../lib/local/local-websocket';
import { LOCAL_WEBSOCKET_PATH, webSocketLimits } from '../../lib/realtime/routes';
import type { TestStack } from '../support/http-stack';
import { backend } from '../support/test-database';

/**
 * The local WebSocket API as a stand-in for API Gateway's: the real `$connect` authorizer
 * (functions/ws/ws-authorize.ts) refusing tokens before the socket opens, the real route Lambdas
 * behind route selection on `action`, API Gateway's limits, and its management API driven by the
 * real ApiGatewayManagementApiClient, as the functions' publisher drives it.
 */
const IDLE_SECONDS = 2;
/** Longer than any other test's connection lives. */
const MAX_SECONDS = 6;
let stack: TestStack;
let management: ApiGatewayManagementApiClient;

beforeAll(async () => {
  // Read when the stack starts, as `npm start` reads them.
  vi.stubEnv('LOCAL_WS_IDLE_SECONDS', String(IDLE_SECONDS));
  vi.stubEnv('LOCAL_WS_MAX_SECONDS', String(MAX_SECONDS));
  const { TestStack } = await import('../support/http-stack');
  stack = await TestStack.start();
  management = new ApiGatewayManagementApiClient({
    endpoint: `${stack.url}${LOCAL_WEBSOCKET_PATH}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  vi.unstubAllEnvs();
  management?.destroy();
  await stack?.close();
});

interface Opened {
  socket: WebSocket;
  frames: string[];
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  next(timeoutMs?: number): Promise<string>;
}

/** Opens a socket, resolving once open, or rejecting with the HTTP status of the refusal. */
function open(query: string, headers: Record<string, string> = {}): Promise<Opened> {
  const socket = new WebSocket(`${stack.url.replace(/^http/, 'ws')}${LOCAL_WEBSOCKET_PATH}${query}`, { headers });
  const frames: string[] = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (data) => {
    frames.push(String(data));
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  let read = 0;
  const next = async (timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (frames.length <= read) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return frames[read++]!;
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, frames, closed, next }));
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () =>
        reject(new Refused(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), response.headers)),
      );
    });
    socket.once('error', reject);
  });
}

class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, unknown>,
  ) {
    super(`refused with ${status}`);
  }
}

async function refusal(query: string): Promise<Refused> {
  try {
    const opened = await open(query);
    opened.socket.terminate();
  } catch (error) {
    if (error instanceof Refused) return error;
    throw error;
  }
  throw new Error(`the connection ${query.slice(0, 40)}… was accepted`);
}

const tokenQuery = (token: string) => `?token=${encodeURIComponent(token)}`;

/** The connections the real $connect Lambda registered for a user. */
async function connectionsOf(userId: string): Promise<string[]> {
  const { rows } = await sql<{ connection_id: string }>`
    select connection_id from connections where user_id = cast(${userId} as uuid) order by connection_id`.execute(
    stack.database.db,
  );
  return rows.map((r) => r.connection_id);
}

/** Connects as a new user and returns the socket with the connection id API Gateway gave it. */
async function connected(headers: Record<string, string> = {}) {
  const userId = randomUUID();
  const opened = await open(tokenQuery(await stack.token(userId)), headers);
  const [connectionId] = await connectionsOf(userId);
  if (!connectionId) throw new Error('the $connect Lambda registered no connection');
  return { ...opened, userId, connectionId };
}

describe(`the $connect authorizer refuses before the socket opens, as API Gateway would, on ${backend}`, () => {
  const now = () => Math.floor(Date.now() / 1000);
  let sign: (claims: JWTPayload, header?: { alg?: string; kid?: string }) => Promise<string>;
  let kid: string;

  beforeAll(async () => {
    const { privateJwk } = await loadOrCreateKey(stack.auth.keyFile);
    kid = privateJwk.kid!;
    const key = await importJWK(privateJwk, 'RS256');
    sign = (claims, header = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: header.alg ?? 'RS256', kid: header.kid ?? kid }).sign(key);
  });

  /** A Cognito access token's claims. */
  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    sub: randomUUID(),
    iss: stack.auth.issuer,
    client_id: stack.auth.audience,
    token_use: 'access',
    scope: 'aws.cognito.signin.user.admin',
    iat: now(),
    exp: now() + 600,
    ...extra,
  });

  it('answers 401 without a token, and with an empty one', async () => {
    for (const query of ['', '?token=', '?other=1']) {
      const refused = await refusal(query);
      expect(refused.status, query).toBe(401);
      expect(JSON.parse(refused.body)).toEqual({ message: 'Unauthorized' });
    }
  });

  it('answers 401 to every token the HTTP API refuses, and to an id token', async () => {
    const foreign = await generateKeyPair('RS256');
    const unsigned = (payload: JWTPayload) =>
      `${Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
    const refused: Record<string, string> = {
      expired: await sign(claims({ exp: now() - 5 })),
      'no exp': await sign(
        (() => {
          const c = claims();
          delete c.exp;
          return c;
        })(),
      ),
      'wrong issuer': await sign(claims({ iss: 'https://cognito-idp.local.amazonaws.com/someone_else' })),
      'another app client': await sign(claims({ client_id: 'another-client' })),
      'nbf in the future': await sign(claims({ nbf: now() + 120 })),
      'iat in the future': await sign(claims({ iat: now() + 120 })),
      'a foreign key under our kid': await new SignJWT(claims())
        .setProtectedHeader({ alg: 'RS256', kid })
        .sign(foreign.privateKey),
      'a foreign key and kid': await new SignJWT(claims())
        .setProtectedHeader({ alg: 'RS256', kid: randomUUID() })
        .sign(foreign.privateKey),
      'alg none': unsigned(claims()),
      'an id token': await sign(
        (() => {
          const c = claims({ token_use: 'id', aud: stack.auth.audience, email: 'a@example.com' });
          delete c.client_id;
          return c;
        })(),
      ),
      'not a JWT': 'not-a-jwt',
    };
    for (const [what, token] of Object.entries(refused)) {
      const answer = await refusal(tokenQuery(token));
      expect(answer.status, what).toBe(401);
      expect(JSON.parse(answer.body), what).toEqual({ message: 'Unauthorized' });
    }
    // Nothing reached $connect.
    const { rows } = await sql<{ n: string }>`select count(*) as n from connections`.execute(stack.database.db);
    const before = Number(rows[0]!.n);
    await refusal(tokenQuery(refused.expired!));
    const after = await sql<{ n: string }>`select count(*) as n from connections`.execute(stack.database.db);
    expect(Number(after.rows[0]!.n)).toBe(before);
  });

  it('lets a valid access token in, with the user and groups in every route’s authorizer context', async () => {
    const userId = randomUUID();
    const opened = await open(tokenQuery(await stack.token(userId, ['agent', 'admin'])));
    expect(opened.socket.readyState).toBe(WebSocket.OPEN);
    expect(await connectionsOf(userId)).toHaveLength(1);
    opened.socket.close(1000);
    await opened.closed;
  });

  it('answers 404 to a WebSocket handshake on any other path', async () => {
    const socket = new WebSocket(`${stack.url.replace(/^http/, 'ws')}/elsewhere`);
    const status = await new Promise<number>((resolve, reject) => {
      socket.once('unexpected-response', (_q, response) => resolve(response.statusCode ?? 0));
      socket.once('open', () => reject(new Error('opened')));
      socket.once('error', reject);
    });
    expect(status).toBe(404);
  });
});

describe('the authorizer policy is read as API Gateway reads it (a denied or foreign resource: 403)', () => {
  const arn = 'arn:aws:execute-api:local:000000000000:local/ws/$connect';
  const statement = (Effect: string, Resource: unknown, Action: unknown = 'execute-api:Invoke') => ({
    Effect,
    Action,
    Resource,
  });
  const policy = (...Statement: unknown[]) => ({ Version: '2012-10-17', Statement });

  it('allows only with an Allow on the methodArn (wildcards included), and an explicit Deny wins', () => {
    expect(policyAllows(policy(statement('Allow', arn)), arn)).toBe(true);
    expect(policyAllows(policy(statement('Allow', 'arn:aws:execute-api:local:000000000000:local/*')), arn)).toBe(true);
    expect(policyAllows(policy(statement('Allow', [arn], ['execute-api:*'])), arn)).toBe(true);
    expect(policyAllows({ Statement: statement('Allow', arn) }, arn)).toBe(true);
    expect(policyAllows(policy(statement('Allow', arn.replace('$connect', '$default'))), arn)).toBe(false);
    expect(policyAllows(policy(statement('Allow', arn, 'execute-api:ManageConnections')), arn)).toBe(false);
    expect(policyAllows(policy(statement('Allow', arn), statement('Deny', '*')), arn)).toBe(false);
    expect(policyAllows(policy(statement('Deny', arn)), arn)).toBe(false);
    expect(policyAllows(policy(), arn)).toBe(false);
    expect(policyAllows(undefined, arn)).toBe(false);
    expect(policyAllows('nonsense', arn)).toBe(false);
  });
});

describe(`frames are routed on their action to the route Lambdas, on ${backend}`, () => {
  it('answers {"action":"ping"} with a pong frame on the same socket', async () => {
    const c = await connected();
    c.socket.send(JSON.stringify({ action: 'ping' }));
    expect(JSON.parse(await c.next())).toEqual({ type: 'pong', data: {} });
    c.socket.close(1000);
    await c.closed;
  });

  it('sends a frame whose action names no route, or that is not JSON, to $default: an error frame', async () => {
    const c = await connected();
    for (const body of [JSON.stringify({ action: 'nonsense' }), 'not json', JSON.stringify({ no: 'action' }), '[]']) {
      c.socket.send(body);
      const answer = JSON.parse(await c.next()) as { type: string; data: { code: string } };
      expect(answer.type, body).toBe('error');
      expect(answer.data.code, body).toBe('unknown_action');
    }
    c.socket.close(1000);
    await c.closed;
  });

  it('runs $disconnect when the client closes: the connection leaves the registry', async () => {
    const c = await connected();
    c.socket.close(1000);
    await c.closed;
    await expect.poll(() => connectionsOf(c.userId), { timeout: 5000 }).toEqual([]);
  });
});

describe(`API Gateway's limits, on ${backend}`, () => {
  it('takes a message of exactly 128 KB, and closes the connection with 1009 beyond it', async () => {
    const c = await connected();
    const padded = (bytes: number) => {
      const frame = JSON.stringify({ action: 'nonsense', pad: '' });
      return JSON.stringify({ action: 'nonsense', pad: 'x'.repeat(bytes - Buffer.byteLength(frame)) });
    };
    c.socket.send(padded(webSocketLimits.frameBytes));
    expect(JSON.parse(await c.next()).type).toBe('error');
    c.socket.send(padded(webSocketLimits.frameBytes + 1));
    expect((await c.closed).code).toBe(1009);
    await expect.poll(() => connectionsOf(c.userId), { timeout: 5000 }).toEqual([]);
  });

  it('closes the connection with 1003 on a binary frame', async () => {
    const c = await connected();
    c.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.closed).code).toBe(1003);
  });

  it('closes an idle connection after LOCAL_WS_IDLE_SECONDS; messages keep it open', async () => {
    const kept = await connected();
    const idle = await connected();
    const started = Date.now();
    const keeping = setInterval(() => kept.socket.send(JSON.stringify({ action: 'ping' })), 500);
    try {
      const { code } = await idle.closed;
      const waited = (Date.now() - started) / 1000;
      expect(code).toBe(1001);
      expect(waited).toBeGreaterThan(IDLE_SECONDS - 0.5);
      expect(waited).toBeLessThan(IDLE_SECONDS + 2);
      await new Promise((r) => setTimeout(r, 1000));
      expect(kept.socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      clearInterval(keeping);
    }
    kept.socket.close(1000);
    await kept.closed;
    await expect.poll(() => connectionsOf(idle.userId), { timeout: 5000 }).toEqual([]);
  });
});

describe(`API Gateway's maximum connection duration, on ${backend}`, () => {
  it('closes a connection after LOCAL_WS_MAX_SECONDS however active it is', async () => {
    const c = await connected();
    const started = Date.now();
    const keeping = setInterval(() => c.socket.send(JSON.stringify({ action: 'ping' })), 500);
    try {
      expect((await c.closed).code).toBe(1001);
    } finally {
      clearInterval(keeping);
    }
    const lived = (Date.now() - started) / 1000;
    expect(lived).toBeGreaterThan(MAX_SECONDS - 1);
    expect(lived).toBeLessThan(MAX_SECONDS + 2);
    expect(c.frames.length).toBeGreaterThan(5); // pongs all along
  });
});

describe(`the management API through the real ApiGatewayManagementApiClient, on ${backend}`, () => {
  it('PostToConnection reaches the socket as one text frame', async () => {
    const c = await connected();
    const data = JSON.stringify({ type: 'hello', data: { text: 'ünïcode ✓' } });
    await management.send(new PostToConnectionCommand({ ConnectionId: c.connectionId, Data: Buffer.from(data) }));
    expect(await c.next()).toBe(data);
    c.socket.close(1000);
    await c.closed;
  });

  it('PostToConnection over 128 KB is PayloadTooLargeException, and the socket stays open', async () => {
    const c = await connected();
    const error = await management
      .send(
        new PostToConnectionCommand({
          ConnectionId: c.connectionId,
          Data: Buffer.alloc(webSocketLimits.frameBytes + 1, 'x'),
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeException);
    expect((error as PayloadTooLargeException).$metadata.httpStatusCode).toBe(413);
    expect(c.socket.readyState).toBe(WebSocket.OPEN);
    c.socket.close(1000);
    await c.closed;
  });

  it('GetConnection tells when it connected, from where, and when it was last active', async () => {
    const before = Date.now();
    const c = await connected({ 'User-Agent': 'messaging-test/1.0' });
    const got = await management.send(new GetConnectionCommand({ ConnectionId: c.connectionId }));
    expect(got.ConnectedAt).toBeInstanceOf(Date);
    expect(got.ConnectedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(got.ConnectedAt!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(got.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'messaging-test/1.0' });
    expect(got.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(got.ConnectedAt!.getTime());
    c.socket.close(1000);
    await c.closed;
  });

  it('DeleteConnection closes the socket, runs $disconnect, and the id is gone from then on', async () => {
    const c = await connected();
    await management.send(new DeleteConnectionCommand({ ConnectionId: c.connectionId }));
    expect((await c.closed).code).toBe(1001);
    await expect.poll(() => connectionsOf(c.userId), { timeout: 5000 }).toEqual([]);
    for (const command of [
      new PostToConnectionCommand({ ConnectionId: c.connectionId, Data: Buffer.from('{}') }),
      new GetConnectionCommand({ ConnectionId: c.connectionId }),
      new DeleteConnectionCommand({ ConnectionId: c.connectionId }),
    ]) {
      const error = await management.send(command as PostToConnectionCommand).catch((e: unknown) => e);
      expect(error, command.constructor.name).toBeInstanceOf(GoneException);
      expect((error as GoneException).$metadata.httpStatusCode).toBe(410);
    }
  });

  it('answers GoneException for an id that never existed', async () => {
    const error = await management
      .send(new PostToConnectionCommand({ ConnectionId: 'L0SM9cOFvHcCIhw=', Data: Buffer.from('{}') }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GoneException);
  });

  it('refuses an unsigned call, and one signed for another service, with 403', async () => {
    const c = await connected();
    const path = `${stack.url}${LOCAL_WEBSOCKET_PATH}/@connections/${encodeURIComponent(c.connectionId)}`;
    const unsigned = await fetch(path, { method: 'POST', body: 'x' });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('ForbiddenException');
    const otherService = await fetch(path, {
      method: 'POST',
      body: 'x',
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/events/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`,
      },
    });
    expect(otherService.status).toBe(403);
    expect(c.frames).toEqual([]);
    c.socket.close(1000);
    await c.closed;
  });

  it('carries a write’s push from the HTTP API to the participants’ sockets (WEBSOCKET_MANAGEMENT_ENDPOINT)', async () => {
    const alice = await stack.user();
    const bob = await stack.user();
    const bobSocket = await open(tokenQuery(bob.token));
    const created = await stack.request('POST', '/v1/messages/conversations', {
      token: alice.token,
      body: { type: 'general', participantIds: [bob.id] },
    });
    expect(created.status).toBe(201);
    const sent = await stack.request('POST', `/v1/messages/conversations/${created.body.id}/messages`, {
      token: alice.token,
      body: { content: 'hello over the socket' },
    });
    expect(sent.status).toBe(201);
    const deadline = Date.now() + 5000;
    let pushed: { type: string; data: { id?: string; content?: string } } | undefined;
    while (!pushed && Date.now() < deadline) {
      const frame = JSON.parse(await bobSocket.next(deadline - Date.now()));
      if (frame.type === 'message.created') pushed = frame;
    }
    expect(pushed?.data).toMatchObject({ id: sent.body.id, content: 'hello over the socket' });
    bobSocket.socket.close(1000);
    await bobSocket.closed;
  });
});

describe(`npm run watch prints what the WebSocket API sends a user, on ${backend}`, () => {
  /** The command's environment: it finds the stack by PORT and signs with the stack's key. */
  const commandEnv = (keyFile: string): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'error', LOCAL_JWT_KEY_FILE: keyFile };
    for (const name of ['HOST', 'DATABASE_URL', 'DB_CLUSTER_ARN']) delete env[name];
    env.PORT = new URL(stack.url).port;
    return env;
  };
  const watch = (sub: string, keyFile: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/watch.ts', '--sub', sub], {
      env: commandEnv(keyFile),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = { stdout: '', stderr: '' };
    child.stdout.on('data', (chunk: Buffer) => {
      output.stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output.stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output, exited };
  };

  it('prints each frame as one line, and stops on SIGTERM', async () => {
    const sub = randomUUID();
    const w = watch(sub, stack.auth.keyFile);
    try {
      await expect.poll(() => w.output.stderr, { timeout: 30_000 }).toMatch(/connected to ws:/);
      const [connectionId] = await connectionsOf(sub);
      const frames = ['{"type":"one","data":{}}', '{\n  "type": "two"\n}'];
      for (const frame of frames) {
        await management.send(new PostToConnectionCommand({ ConnectionId: connectionId!, Data: Buffer.from(frame) }));
      }
      await expect.poll(() => w.output.stdout.split('\n').length, { timeout: 5000 }).toBe(3);
      expect(w.output.stdout).toBe('{"type":"one","data":{}}\n{   "type": "two" }\n');
    } finally {
      w.child.kill('SIGTERM');
    }
    expect(await w.exited).toBe(0);
  });

  it('says in one line when the gateway refuses its token, and exits 1', async () => {
    const w = watch(randomUUID(), join(tmpdir(), `messaging-other-key-${randomUUID()}.json`));
    expect(await w.exited).toBe(1);
    expect(w.output.stderr.trim()).toMatch(
      /^watch: ws:\/\/\S+ \(from PORT\/HOST\) refused the connection: 401 Unauthorized$/,
    );
  });
});
