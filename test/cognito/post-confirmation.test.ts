import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import type { PostConfirmationTriggerEvent } from 'aws-lambda';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postConfirmationHandler } from '../../functions/cognito/post-confirmation';
import { createDatabase, type DatabaseHandle } from '../../lib/db/create-database';
import { MessagingService } from '../../lib/messaging/messaging-service';
import { openTestDatabase } from '../support/test-database';

/** Cognito waits 5 s for this trigger; a sign-up must never fail because the database is slow or away. */
let database: DatabaseHandle;
let silent: Server;
const sockets: Socket[] = [];
let stalled: DatabaseHandle;
let refused: DatabaseHandle;

function confirmation(sub: string): PostConfirmationTriggerEvent {
  return {
    version: '1',
    region: 'eu-west-1',
    userPoolId: 'eu-west-1_example',
    userName: sub,
    callerContext: { awsSdkVersion: 'aws-sdk-unknown-unknown', clientId: 'client' },
    triggerSource: 'PostConfirmation_ConfirmSignUp',
    request: { userAttributes: { sub, email: 'new@example.com', email_verified: 'true' } },
    response: {},
  };
}

beforeAll(async () => {
  database = await openTestDatabase();
  // A server that accepts connections and never answers: what a database that cannot respond
  // in time looks like to the client.
  silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as AddressInfo).port;
  stalled = await createDatabase({
    kind: 'postgres',
    connectionString: `postgres://app@127.0.0.1:${silentPort}/messaging`,
    poolSize: 1,
  });
  // A port nobody listens on: the connection is refused at once.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  refused = await createDatabase({
    kind: 'postgres',
    connectionString: `postgres://app@127.0.0.1:${closedPort}/messaging`,
    poolSize: 1,
  });
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent?.close(() => resolve()));
  await Promise.allSettled([stalled?.close(), refused?.close()]);
  await database?.close();
});

describe('the Cognito post-confirmation trigger', () => {
  it('records the confirmed user and hands the event back', async () => {
    const sub = randomUUID();
    const handler = postConfirmationHandler({
      messaging: async () => new MessagingService(database.db),
      budgetMs: 3_000,
    });
    const event = confirmation(sub);
    expect(await handler(event)).toBe(event);
    const { rows } = await sql<{ role: string }>`SELECT role FROM users WHERE id = cast(${sub} as uuid)`.execute(
      database.db,
    );
    expect(rows).toEqual([{ role: 'user' }]);
  });

  it('never overwrites a known role: not after a password reset, not on a repeated confirmation', async () => {
    const sub = randomUUID();
    const service = new MessagingService(database.db);
    await service.recordUser(sub, 'admin');
    const handler = postConfirmationHandler({ messaging: async () => service, budgetMs: 3_000 });
    await handler({ ...confirmation(sub), triggerSource: 'PostConfirmation_ConfirmForgotPassword' });
    await handler(confirmation(sub));
    const { rows } = await sql<{ role: string }>`SELECT role FROM users WHERE id = cast(${sub} as uuid)`.execute(
      database.db,
    );
    expect(rows).toEqual([{ role: 'admin' }]);
    // A reset is no sign-up: an unknown user is left to their first API call.
    const stranger = randomUUID();
    await handler({ ...confirmation(stranger), triggerSource: 'PostConfirmation_ConfirmForgotPassword' });
    const none = await sql`SELECT 1 FROM users WHERE id = cast(${stranger} as uuid)`.execute(database.db);
    expect(none.rows).toEqual([]);
  });

  it('records the email and name, and keeps them current from the token-generation trigger', async () => {
    const sub = randomUUID();
    const service = new MessagingService(database.db);
    const handler = postConfirmationHandler({ messaging: async () => service, budgetMs: 3_000 });
    const profile = async () =>
      (
        await sql<{ email: string | null; display_name: string | null }>`
          SELECT email, display_name FROM users WHERE id = cast(${sub} as uuid)`.execute(database.db)
      ).rows[0];
    const signUp = confirmation(sub);
    signUp.request.userAttributes.name = '  Ann\u0007 Example ';
    await handler(signUp);
    expect(await profile()).toEqual({ email: 'new@example.com', display_name: 'Ann Example' });
    const refresh = {
      ...confirmation(sub),
      triggerSource: 'TokenGeneration_RefreshTokens',
      request: {
        userAttributes: { sub, email: 'changed@example.com', email_verified: 'true', name: 'Ann B' },
        groupConfiguration: {},
      },
    } as never;
    expect(await handler(refresh)).toBe(refresh);
    expect(await profile()).toEqual({ email: 'changed@example.com', display_name: 'Ann B' });
    // An attribute that is not an address is not stored; the known one stays.
    await handler({
      ...confirmation(sub),
      triggerSource: 'TokenGeneration_Authentication',
      request: { userAttributes: { sub, email: 'not an address', email_verified: 'true' }, groupConfiguration: {} },
    } as never);
    expect(await profile()).toEqual({ email: 'changed@example.com', display_name: 'Ann B' });
    // Nor one Cognito has not verified: a user may set any address, and digests must not go to it.
    await handler({
      ...confirmation(sub),
      triggerSource: 'TokenGeneration_RefreshTokens',
      request: {
        userAttributes: { sub, email: 'victim@example.com', email_verified: 'false' },
        groupConfiguration: {},
      },
    } as never);
    expect(await profile()).toEqual({ email: 'changed@example.com', display_name: 'Ann B' });
  });

  it('returns within its budget when the database does not answer, without failing the sign-up', async () => {
    const handler = postConfirmationHandler({ messaging: async () => new MessagingService(stalled.db), budgetMs: 300 });
    const event = confirmation(randomUUID());
    const started = Date.now();
    expect(await handler(event)).toBe(event);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('keeps within the time Lambda has left, when that is shorter than the budget', async () => {
    const handler = postConfirmationHandler({
      messaging: async () => new MessagingService(stalled.db),
      budgetMs: 3_000,
    });
    const started = Date.now();
    await handler(confirmation(randomUUID()), { getRemainingTimeInMillis: () => 1_200 } as never);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('returns the event when the database refuses the connection', async () => {
    const handler = postConfirmationHandler({
      messaging: async () => new MessagingService(refused.db),
      budgetMs: 3_000,
    });
    const event = confirmation(randomUUID());
    expect(await handler(event)).toBe(event);
  });
});
