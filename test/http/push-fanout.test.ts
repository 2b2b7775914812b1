import { randomUUID } from 'node:crypto';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localFunctionNames } from '../../lib/local/local-notifications';
import { frame } from '../../lib/realtime/frames';
import { LambdaFanoutPublisher } from '../../lib/realtime/lambda-fanout-publisher';
import { TestStack, type TestUser } from '../support/http-stack';
import { backend } from '../support/test-database';
import { type Device, devicesOfFile } from '../support/ws-client';

/**
 * The asynchronous fan-out (LOCAL_WS_FANOUT=async): each write hands its push to the fan-out
 * function through the real `@aws-sdk/client-lambda` and the local Lambda endpoint, and that
 * function pushes through the management API after the response. The benchmark compares it with
 * pushing inside the request; these tests hold what it must keep: the same frames to the same
 * sockets, one statement per write, gone connections forgotten.
 */
let stack: TestStack;
const devices = devicesOfFile(() => stack);

beforeAll(async () => {
  stack = await TestStack.start(undefined, { LOCAL_WS_FANOUT: 'async' });
});
afterAll(async () => {
  await devices.closeAll();
  await stack?.close();
});

const device = (user: TestUser): Promise<Device> => devices.open(user);

const conversationOf = (creator: TestUser, ...others: TestUser[]) => stack.conversation(creator, others);

const fanoutInvocations = () => stack.server.notifications.lambda.invocations.get(localFunctionNames.pushFanout) ?? 0;

async function statements(): Promise<number> {
  const stats = (await (await fetch(`${stack.url}/local/stats`)).json()) as { statements: number };
  return stats.statements;
}

describe(`the asynchronous push fan-out, on ${backend}`, () => {
  it('delivers a send to every participant’s devices, the sender’s other device included, at one statement', async () => {
    const [alice, bob] = [await stack.user(), await stack.user()];
    const conversation = await conversationOf(alice, bob);
    const [bobPhone, bobLaptop, aliceLaptop] = [await device(bob), await device(bob), await device(alice)];
    const before = await statements();
    const handedOver = fanoutInvocations();
    const sent = await stack.request('POST', `/v1/messages/conversations/${conversation}/messages`, {
      token: alice.token,
      body: { content: 'handed to the fan-out' },
    });
    expect(sent.status).toBe(201);
    expect((await statements()) - before).toBe(1);
    // The push went through the fan-out function, once, not from the request.
    expect(fanoutInvocations() - handedOver).toBe(1);
    for (const d of [bobPhone, bobLaptop, aliceLaptop]) {
      const pushed = await d.waitFor((f) => f.type === 'message.created');
      expect(pushed.data).toMatchObject({ id: sent.body.id, content: 'handed to the fan-out' });
    }
  });

  it('tells nobody outside the conversation', async () => {
    const [alice, bob, eve] = [await stack.user(), await stack.user(), await stack.user()];
    const conversation = await conversationOf(alice, bob);
    const [bobDevice, eveDevice] = [await device(bob), await device(eve)];
    const sent = await stack.request('POST', `/v1/messages/conversations/${conversation}/messages`, {
      token: alice.token,
      body: { content: 'for bob only' },
    });
    expect(sent.status).toBe(201);
    await bobDevice.waitFor((f) => f.type === 'message.created');
    // A frame for eve would come by the same fan-out, which has run: bob's frame came through it.
    await stack.server.notifications.lambda.settled();
    expect(eveDevice.frames).toEqual([]);
  });

  it('forgets a connection API Gateway calls gone, in the fan-out function', async () => {
    const [alice, bob] = [await stack.user(), await stack.user()];
    const conversation = await conversationOf(alice, bob);
    const ghost = `ghost${randomUUID().slice(0, 8)}=`;
    await sql`INSERT INTO connections (connection_id, user_id, expires_at)
              VALUES (${ghost}, cast(${bob.id} AS uuid), now() + interval '1 hour')`.execute(stack.database.db);
    const sent = await stack.request('POST', `/v1/messages/conversations/${conversation}/messages`, {
      token: alice.token,
      body: { content: 'to a socket that is gone' },
    });
    expect(sent.status).toBe(201);
    await stack.server.notifications.lambda.settled();
    const { rows } = await sql`SELECT 1 FROM connections WHERE connection_id = ${ghost}`.execute(stack.database.db);
    expect(rows).toEqual([]);
  });

  it('drops a malformed payload without pushing anything, as the function’s boundary checks it', async () => {
    const [alice] = [await stack.user()];
    const aliceDevice = await device(alice);
    const { rows } = await sql<{ connection_id: string }>`SELECT connection_id FROM connections
                                                          WHERE user_id = cast(${alice.id} AS uuid)`.execute(
      stack.database.db,
    );
    const aliceConnection = rows[0]!.connection_id;
    // The environment's credentials, which the stack's endpoints check signatures against.
    const lambda = new LambdaClient({ endpoint: stack.url, region: 'us-east-1' });
    const invoke = async (payload: unknown) => {
      const answer = await lambda.send(
        new InvokeCommand({ FunctionName: localFunctionNames.pushFanout, Payload: JSON.stringify(payload) }),
      );
      expect(answer.StatusCode).toBe(200);
      expect(answer.FunctionError).toBeUndefined();
    };
    try {
      for (const payload of [
        {},
        { connectionIds: aliceConnection, frame: { type: 'pong', data: {} } },
        { connectionIds: [aliceConnection] },
        { connectionIds: [aliceConnection], frame: { type: '', data: {} } },
      ])
        await invoke(payload);
      // The same connection with a well-formed push: the one frame that arrives.
      await invoke({ connectionIds: [aliceConnection], frame: { type: 'pong', data: {} } });
    } finally {
      lambda.destroy();
    }
    await aliceDevice.waitFor((f) => f.type === 'pong');
    expect(aliceDevice.frames).toEqual([{ type: 'pong', data: {} }]);
  });
});

describe('LambdaFanoutPublisher', () => {
  it('counts a hand-over that fails as failed for every connection, and never throws', async () => {
    const failures: unknown[] = [];
    // A port nothing listens on: the invoke fails at once.
    const publisher = new LambdaFanoutPublisher({ functionName: 'nowhere', endpoint: 'http://127.0.0.1:9' }, (error) =>
      failures.push(error),
    );
    const outcome = await publisher.publish({ connectionIds: ['a', 'b', 'c'], frame: frame('pong', {}) });
    expect(outcome).toEqual({ delivered: 0, gone: [], failed: 3 });
    expect(failures).toHaveLength(1);
    expect(await publisher.publish({ connectionIds: [], frame: frame('pong', {}) })).toEqual({
      delivered: 0,
      gone: [],
      failed: 0,
    });
  });
});
