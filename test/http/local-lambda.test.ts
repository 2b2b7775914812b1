import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalLambda } from '../../lib/local/local-lambda';

/**
 * The local Lambda Invoke endpoint against the real client: what the writes use to invoke the
 * outbox relay (Event) and `npm run signup` uses to run the Cognito trigger (RequestResponse).
 */
const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIALOCALLAMBDA', secretAccessKey: 'local-lambda-secret' };
const calls: unknown[] = [];
let server: Server;
let lambda: LocalLambda;
let endpoint: string;

beforeAll(async () => {
  lambda = new LocalLambda({
    region,
    credentials: { [credentials.accessKeyId]: credentials.secretAccessKey },
    functions: {
      echo: async (payload) => {
        calls.push(payload);
        return { echoed: payload };
      },
      fails: async () => {
        throw new TypeError('broken on purpose');
      },
    },
  });
  server = createServer((req, res) => {
    if (lambda.handles(req)) void lambda.handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const client = (secret = credentials.secretAccessKey) =>
  new LambdaClient({ endpoint, region, credentials: { ...credentials, secretAccessKey: secret }, maxAttempts: 1 });
const text = (bytes?: Uint8Array) => Buffer.from(bytes ?? []).toString('utf8');

describe('the local Lambda endpoint', () => {
  it('answers a RequestResponse invocation with the function result, by name or by ARN', async () => {
    const out = await client().send(new InvokeCommand({ FunctionName: 'echo', Payload: JSON.stringify({ a: 1 }) }));
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBeUndefined();
    expect(JSON.parse(text(out.Payload))).toEqual({ echoed: { a: 1 } });
    const byArn = await client().send(
      new InvokeCommand({ FunctionName: `arn:aws:lambda:${region}:000000000000:function:echo`, Payload: '{"b":2}' }),
    );
    expect(JSON.parse(text(byArn.Payload))).toEqual({ echoed: { b: 2 } });
  });

  it('queues an Event invocation: 202 at once, the function runs after', async () => {
    const before = calls.length;
    const out = await client().send(
      new InvokeCommand({ FunctionName: 'echo', InvocationType: 'Event', Payload: '{"later":true}' }),
    );
    expect(out.StatusCode).toBe(202);
    await lambda.settled();
    expect(calls.slice(before)).toEqual([{ later: true }]);
  });

  it('reports a failing function as Lambda does, and refuses what Lambda refuses', async () => {
    const failed = await client().send(new InvokeCommand({ FunctionName: 'fails', Payload: '{}' }));
    expect(failed.FunctionError).toBe('Unhandled');
    expect(JSON.parse(text(failed.Payload))).toMatchObject({
      errorType: 'TypeError',
      errorMessage: 'broken on purpose',
    });
    await expect(client().send(new InvokeCommand({ FunctionName: 'missing' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await expect(client('wrong').send(new InvokeCommand({ FunctionName: 'echo' }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    const before = calls.length;
    await expect(client().send(new InvokeCommand({ FunctionName: 'echo', Payload: 'not json' }))).rejects.toMatchObject(
      { name: 'InvalidRequestContentException' },
    );
    expect(calls.length).toBe(before);
  });
});
