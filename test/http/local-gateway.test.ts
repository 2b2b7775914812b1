import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { localCorsConfiguration } from '../../lib/local/cors';
import { createVerifier, loadOrCreateKey } from '../../lib/local/local-auth';
import type { TestStack } from '../support/http-stack';
import { backend } from '../support/test-database';

/**
 * The local stack as a stand-in for API Gateway: its JWT authorizer exactly as strict as AWS
 * documents, its own answers shaped like API Gateway's, CORS as the deployed configuration, and
 * the commands around it (`npm run token`, `npm run emit`, `npm start`).
 */
let stack: TestStack;
const appOrigin = 'http://localhost:5173';

beforeAll(async () => {
  // The stack reads CORS_ORIGINS when it starts, as `npm start` does.
  vi.stubEnv('CORS_ORIGINS', `${appOrigin}, https://*`);
  const { TestStack } = await import('../support/http-stack');
  stack = await TestStack.start();
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await stack?.close();
});

const path = '/v1/messages/unread';

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${stack.url}${url}`, { headers });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? (JSON.parse(text) as unknown) : undefined,
  };
}

describe(`the local JWT authorizer is as strict as API Gateway documents, on ${backend}`, () => {
  const now = () => Math.floor(Date.now() / 1000);
  let sign: (claims: JWTPayload, header?: { kid?: string | null; alg?: string }) => Promise<string>;

  beforeAll(async () => {
    const { privateJwk } = await loadOrCreateKey(stack.auth.keyFile);
    const key = await importJWK(privateJwk, 'RS256');
    sign = (claims, header = {}) => {
      const kid = header.kid === null ? undefined : (header.kid ?? privateJwk.kid);
      return new SignJWT(claims).setProtectedHeader({ alg: header.alg ?? 'RS256', ...(kid ? { kid } : {}) }).sign(key);
    };
  });

  /** A Cognito access token's claims: client_id, no aud. */
  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    sub: randomUUID(),
    iss: stack.auth.issuer,
    client_id: stack.auth.audience,
    token_use: 'access',
    iat: now(),
    exp: now() + 600,
    ...extra,
  });
  const without = (name: string) => {
    const c = claims();
    delete c[name];
    return c;
  };

  it('refuses what API Gateway refuses, with its 401', async () => {
    const refused: Record<string, string> = {
      'no exp': await sign(without('exp')),
      'exp in the past': await sign(claims({ exp: now() - 5 })),
      'iat in the future': await sign(claims({ iat: now() + 120 })),
      'nbf in the future': await sign(claims({ nbf: now() + 120 })),
      'no kid': await sign(claims(), { kid: null }),
      'a kid not in the JWKS': await sign(claims(), { kid: 'someone-elses-key' }),
      'aud naming another client while client_id matches': await sign(claims({ aud: 'another-client' })),
      'aud list without our client': await sign(claims({ aud: ['a', 'b'] })),
      'neither aud nor client_id': await sign(without('client_id')),
      'wrong client_id': await sign(claims({ client_id: 'another-client' })),
      'wrong issuer': await sign(claims({ iss: 'https://cognito-idp.us-east-1.amazonaws.com/other' })),
      'no issuer': await sign(without('iss')),
    };
    for (const [name, token] of Object.entries(refused)) {
      for (const authorization of [`Bearer ${token}`, token]) {
        const response = await get(path, { authorization });
        expect({ name, status: response.status, body: response.body }).toEqual({
          name,
          status: 401,
          body: { message: 'Unauthorized' },
        });
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
      }
    }
  });

  it('accepts what API Gateway accepts: with or without "Bearer ", aud checked before client_id, nbf and iat in the past', async () => {
    const accepted: Record<string, string> = {
      'a Cognito access token': await sign(claims()),
      'aud is ours (ID-token style), no client_id': await sign({ ...without('client_id'), aud: stack.auth.audience }),
      'aud lists ours': await sign(claims({ aud: ['other', stack.auth.audience] })),
      'aud is ours while client_id names another client': await sign(
        claims({ aud: stack.auth.audience, client_id: 'another-client' }),
      ),
      'nbf in the past': await sign(claims({ nbf: now() - 60 })),
      'no iat': await sign(without('iat')),
    };
    for (const [name, token] of Object.entries(accepted)) {
      for (const authorization of [`Bearer ${token}`, token]) {
        const response = await get(path, { authorization });
        expect({ name, bare: !authorization.startsWith('Bearer '), status: response.status }).toEqual({
          name,
          bare: !authorization.startsWith('Bearer '),
          status: 200,
        });
      }
    }
  });

  it('answers a token it verified before the same way until the token expires, then refuses it as expired', async () => {
    const verifier = await createVerifier(stack.auth);
    const token = await sign(claims({ exp: now() + 60 }));
    const first = await verifier.verify(`Bearer ${token}`);
    expect(first.ok).toBe(true);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 30_000);
      expect(await verifier.verify(token)).toEqual(first);
      // The same token but one character of its signature is another string, verified on its own.
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const at = Math.floor(signature.length / 2);
      const forged = `${header}.${payload}.${signature.slice(0, at)}${signature[at] === 'A' ? 'B' : 'A'}${signature.slice(at + 1)}`;
      expect(await verifier.verify(forged)).toEqual({ ok: false, reason: 'JwtInvalidSignatureError' });
      vi.setSystemTime(Date.now() + 31_000);
      expect(await verifier.verify(`Bearer ${token}`)).toEqual({ ok: false, reason: 'JwtExpiredError' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('leaves the sub claim to the Lambda, as API Gateway does: a token without one reaches it and is refused there', async () => {
    const response = await get(path, { authorization: `Bearer ${await sign(without('sub'))}` });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: { code: 'unauthorized' } });
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe("the gateway's own answers look like API Gateway's", () => {
  const securityHeaders = ['x-content-type-options', 'content-security-policy', 'cache-control'];

  it('404, 400, 401 and 413 are {"message"} JSON with an apigw-requestid and without the Lambdas\' security headers', async () => {
    const token = await stack.token(randomUUID());
    const answers = {
      404: await get('/v1/nothing/here', { authorization: `Bearer ${token}` }),
      400: await get('/v1/messages/conversations/%ZZ', { authorization: `Bearer ${token}` }),
      401: await get(path),
      413: await (async () => {
        const response = await fetch(`${stack.url}/v1/messages/conversations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: Buffer.alloc(10 * 1024 * 1024 + 1, 0x20),
        });
        const text = await response.text();
        return { status: response.status, headers: response.headers, text, body: JSON.parse(text) as unknown };
      })(),
    };
    const messages = { 404: 'Not Found', 400: 'Bad Request', 401: 'Unauthorized', 413: 'Request Entity Too Large' };
    for (const [status, response] of Object.entries(answers)) {
      expect({ status: response.status, body: response.body }).toEqual({
        status: Number(status),
        body: { message: messages[Number(status) as 404] },
      });
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('apigw-requestid')).toMatch(/^[A-Za-z0-9+/=]+$/);
      for (const name of securityHeaders)
        expect({ status, name, value: response.headers.get(name) }).toEqual({ status, name, value: null });
    }
    // The Lambdas' answers, errors included, do carry them.
    const lambda = await get('/v1/messages/conversations?colour=red', { authorization: `Bearer ${token}` });
    expect(lambda.status).toBe(400);
    for (const name of securityHeaders) expect(lambda.headers.get(name)).not.toBeNull();
  });
});

describe('CORS as the deployed HTTP API configures it', () => {
  const preflight = (url: string, origin: string | undefined, method = 'POST') =>
    fetch(`${stack.url}${url}`, {
      method: 'OPTIONS',
      headers: {
        ...(origin ? { origin } : {}),
        ...(method ? { 'access-control-request-method': method } : {}),
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  it('answers a preflight itself, without a token, on any path, for an allowed origin', async () => {
    for (const [url, origin, allow] of [
      ['/v1/messages/conversations', appOrigin, appOrigin],
      ['/v1/messages/conversations/abc/messages', appOrigin, appOrigin],
      ['/no/such/route', appOrigin, appOrigin],
      ['/v1/messages/unread', 'https://app.example.com', 'https://app.example.com'],
    ] as const) {
      const response = await preflight(url, origin);
      expect({ url, origin, status: response.status }).toEqual({ url, origin, status: 204 });
      expect(Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')))).toEqual({
        'access-control-allow-origin': allow,
        'access-control-allow-methods': 'DELETE,GET,PATCH,POST,PUT',
        'access-control-allow-headers': 'authorization,content-type',
        'access-control-max-age': '3600',
      });
      expect(await response.text()).toBe('');
    }
  });

  it('gives no CORS headers to an origin it does not allow, and treats OPTIONS without a preflight as a route lookup', async () => {
    const foreign = await preflight('/v1/messages/conversations', 'http://evil.example.com');
    expect(foreign.status).toBe(204);
    expect([...foreign.headers].filter(([name]) => name.startsWith('access-control-'))).toEqual([]);
    const notPreflight = await fetch(`${stack.url}/v1/messages/conversations`, {
      method: 'OPTIONS',
      headers: { origin: appOrigin },
    });
    expect(notPreflight.status).toBe(404);
  });

  it("adds the allow-origin and expose headers to the Lambda's responses for an allowed origin only", async () => {
    const token = await stack.token(randomUUID());
    const allowed = await get(path, { authorization: `Bearer ${token}`, origin: appOrigin });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(allowed.headers.get('access-control-expose-headers')).toBe('retry-after');
    expect(allowed.headers.get('x-content-type-options')).toBe('nosniff');
    const refused = await get('/v1/messages/conversations?colour=red', {
      authorization: `Bearer ${token}`,
      origin: appOrigin,
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('access-control-allow-origin')).toBe(appOrigin);
    const foreign = await get(path, { authorization: `Bearer ${token}`, origin: 'http://evil.example.com' });
    expect(foreign.status).toBe(200);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const noOrigin = await get(path, { authorization: `Bearer ${token}` });
    expect(noOrigin.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reads CORS_ORIGINS like the stack reads corsOrigins: unset is the dev default, empty is no CORS', () => {
    expect(localCorsConfiguration({})?.allowOrigins).toEqual(['http://localhost:3000']);
    expect(localCorsConfiguration({ CORS_ORIGINS: '' })).toBeUndefined();
    expect(localCorsConfiguration({ CORS_ORIGINS: ' https://a.example , https://b.example ' })?.allowOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });
});

// ---- the commands -----------------------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a command run by hand: none of the test run's database or address settings. */
function commandEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'error', ...extra };
  for (const name of ['PORT', 'HOST', 'DATABASE_URL', 'DB_CLUSTER_ARN', 'EVENTBRIDGE_ENDPOINT', 'CORS_ORIGINS']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe('npm run token', () => {
  it('prints its usage for --help, documenting --expires-in, and one clear line for a bad option', async () => {
    const help = await run('bin/token.ts', ['--help'], commandEnv({}));
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run -s token -- --sub <uuid>/);
    expect(help.stdout).toMatch(/--expires-in/);
    expect(help.stderr).toBe('');
    for (const args of [['--bogus'], ['--sub', 'not-a-uuid'], ['--sub', randomUUID(), '--expires-in', 'soon']]) {
      const bad = await run('bin/token.ts', args, commandEnv({}));
      expect({ args, code: bad.code }).toEqual({ args, code: 2 });
      expect(bad.stderr).toMatch(/^token: .+\nusage: /);
      noStackTrace(bad.stderr);
    }
  });

  it('signs with --expires-in: 0 gives a token the stack refuses, the default one it accepts', async () => {
    const env = commandEnv({ LOCAL_JWT_KEY_FILE: stack.auth.keyFile });
    const sub = randomUUID();
    const expired = await run('bin/token.ts', ['--sub', sub, '--expires-in', '0'], env);
    const fresh = await run('bin/token.ts', ['--sub', sub], env);
    expect((await get(path, { authorization: `Bearer ${expired.stdout.trim()}` })).status).toBe(401);
    expect((await get(path, { authorization: `Bearer ${fresh.stdout.trim()}` })).status).toBe(200);
  });
});

describe('npm run emit', () => {
  it('fails with one clear line, no stack trace, when no stack answers', async () => {
    const port = await closedPort();
    const dead = await run('bin/emit.ts', ['OrderCreated', '{}'], commandEnv({ PORT: String(port) }));
    expect(dead.code).toBe(1);
    expect(dead.stdout).toBe('');
    expect(dead.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^emit: no local stack answers at http://127\\.0\\.0\\.1:${port} .*npm start`)),
    ]);
    const help = await run('bin/emit.ts', ['--help'], commandEnv({}));
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run emit --/);
  });

  it('uses PORT like npm start does', async () => {
    const port = new URL(stack.url).port;
    const before = stack.server.bus.report().delivered;
    const sent = await run(
      'bin/emit.ts',
      ['OrderCreated', JSON.stringify({ orderId: randomUUID(), userId: randomUUID() })],
      commandEnv({ PORT: port }),
    );
    expect({ code: sent.code, stderr: sent.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(sent.stdout)).toMatchObject({ FailedEntryCount: 0 });
    await stack.server.bus.drain();
    expect(stack.server.bus.report().delivered).toBe(before + 1);
  });

  it('finds a running `npm start` on another port without being told, and forgets it when it stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'messaging-start-'));
    const record = join(dir, 'local-stack.json');
    const env = commandEnv({
      PGLITE_DATA_DIR: '', // in memory
      LOCAL_JWT_KEY_FILE: join(dir, 'key.json'),
      LOCAL_STACK_FILE: record,
    });
    const server = spawn(process.execPath, ['--import', 'tsx', 'bin/start.ts'], {
      env: { ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const found = /Messaging API on (http:\/\/\S+)/.exec(out);
          if (found) resolve(found[1]!);
        });
        server.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
      });
      expect(JSON.parse(readFileSync(record, 'utf8'))).toMatchObject({ url });
      const sent = await run(
        'bin/emit.ts',
        ['OrderCreated', JSON.stringify({ orderId: randomUUID(), userId: randomUUID() })],
        env,
      );
      expect({ code: sent.code, stderr: sent.stderr }).toEqual({ code: 0, stderr: '' });
      await expect
        .poll(async () => ((await (await fetch(`${url}/local/events`)).json()) as { delivered: number }).delivered, {
          timeout: 10_000,
        })
        .toBe(1);
    } finally {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      }
    }
    expect(existsSync(record)).toBe(false);
  });
});
