import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoleName, ensureAppRole, scramSha256Verifier } from '../../lib/db/app-role';
import { createDatabase, type DatabaseHandle } from '../../lib/db/create-database';
import { migrateToLatest } from '../../lib/db/migrate';
import { MessagingService } from '../../lib/messaging/messaging-service';
import { OrderProjection } from '../../lib/messaging/order-projection';

/**
 * The application role on a real PostgreSQL engine (embedded PGlite, whatever TEST_BACKEND is: this
 * is about the role's SQL, and PGlite lets one session switch roles with SET ROLE). The postgres
 * and data-api suites additionally run every service test connected as this role.
 */
let handle: DatabaseHandle;
const password = 'app-role-test-password';

async function asApp<T>(work: () => Promise<T>): Promise<T> {
  await sql`SET ROLE ${sql.raw(appRoleName)}`.execute(handle.db);
  try {
    return await work();
  } finally {
    await sql`RESET ROLE`.execute(handle.db);
  }
}

async function denied(statement: ReturnType<typeof sql>): Promise<string> {
  return asApp(async () => {
    try {
      await statement.execute(handle.db);
    } catch (error) {
      return (error as Error).message;
    }
    return 'allowed';
  });
}

beforeAll(async () => {
  handle = await createDatabase({ kind: 'pglite' });
  await migrateToLatest(handle.db);
  await ensureAppRole(handle.db, { password });
  // Idempotent: the migration runs it on every deploy.
  await ensureAppRole(handle.db, { password });
});
afterAll(async () => handle?.close());

describe('the application role', () => {
  it('logs in, is no superuser, cannot create databases or roles, and owns nothing', async () => {
    const { rows } = await sql<Record<string, boolean>>`
      SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls
      FROM pg_roles WHERE rolname = ${appRoleName}`.execute(handle.db);
    expect(rows).toEqual([
      {
        rolcanlogin: true,
        rolsuper: false,
        rolcreatedb: false,
        rolcreaterole: false,
        rolreplication: false,
        rolbypassrls: false,
      },
    ]);
    const owned = await sql`SELECT tablename FROM pg_tables WHERE tableowner = ${appRoleName}`.execute(handle.db);
    expect(owned.rows).toEqual([]);
  });

  it('may run no DDL and may not change the migration bookkeeping', async () => {
    expect(await denied(sql`CREATE TABLE intruder (id int)`)).toMatch(/permission denied for schema public/);
    expect(await denied(sql`DROP TABLE messages`)).toMatch(/must be owner/);
    expect(await denied(sql`ALTER TABLE messages ADD COLUMN x int`)).toMatch(/must be owner/);
    expect(await denied(sql`TRUNCATE messages`)).toMatch(/permission denied/);
    expect(await denied(sql`CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'`)).toMatch(/permission denied/);
    expect(await denied(sql`DELETE FROM kysely_migration`)).toMatch(/permission denied/);
    // Reading it is what a no-op migrateToLatest does (the local stack calls it on start).
    expect(await denied(sql`SELECT count(*) FROM kysely_migration`)).toBe('allowed');
  });

  it('runs the whole service, triggers included, with its grants alone', async () => {
    await asApp(async () => {
      const messaging = new MessagingService(handle.db);
      const orders = new OrderProjection(handle.db);
      const alice = { userId: randomUUID(), role: 'user' as const, isAdmin: false };
      const bob = { userId: randomUUID(), role: 'agent' as const, isAdmin: false };
      await messaging.recordUser(alice.userId, alice.role);
      await messaging.recordUser(bob.userId, bob.role);
      const conversation = await messaging.createConversation(alice, { type: 'support', participantIds: [bob.userId] });
      const { message } = await messaging.sendMessage(alice, conversation.id, { content: 'hello' });
      expect((await messaging.getUnreadTotal(bob)).unreadCount).toBe(1);
      await messaging.markMessageRead(bob, message.id);
      await messaging.removeParticipant(bob, conversation.id, bob.userId);
      // The order projection fires sync_order_participants and the activity triggers.
      const orderId = randomUUID();
      await orders.orderCreated({
        orderId,
        userId: alice.userId,
        serviceProviderId: bob.userId,
        title: 'Fix the sink',
      });
      await orders.statusChanged({ orderId, status: 'scheduled', version: 2 }, new Date().toISOString());
      await orders.orderDeleted({ orderId });
    });
  });

  it('covers tables and functions that later migrations create, without being run again', async () => {
    await sql`CREATE TABLE later_table (id int PRIMARY KEY)`.execute(handle.db);
    await sql`CREATE FUNCTION later_function() RETURNS int LANGUAGE sql AS 'SELECT 1'`.execute(handle.db);
    await sql`REVOKE EXECUTE ON FUNCTION later_function() FROM PUBLIC`.execute(handle.db);
    try {
      expect(await denied(sql`INSERT INTO later_table VALUES (1)`)).toBe('allowed');
      expect(await denied(sql`UPDATE later_table SET id = 2`)).toBe('allowed');
      expect(await denied(sql`DELETE FROM later_table`)).toBe('allowed');
      expect(await denied(sql`SELECT later_function()`)).toBe('allowed');
    } finally {
      await sql`DROP FUNCTION later_function()`.execute(handle.db);
      await sql`DROP TABLE later_table`.execute(handle.db);
    }
  });

  it('sends its password as the SCRAM verifier PostgreSQL itself would store', async () => {
    const role = `scram_check_${randomUUID().slice(0, 8)}`;
    await sql`SET password_encryption = 'scram-sha-256'`.execute(handle.db);
    await sql`CREATE ROLE ${sql.raw(role)} LOGIN PASSWORD 'Correct-Horse-9'`.execute(handle.db);
    const { rows } = await sql<{
      rolpassword: string;
    }>`SELECT rolpassword FROM pg_authid WHERE rolname = ${role}`.execute(handle.db);
    await sql`DROP ROLE ${sql.raw(role)}`.execute(handle.db);
    const stored = rows[0]!.rolpassword;
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
    expect(scramSha256Verifier('Correct-Horse-9', Buffer.from(salt!, 'base64'), Number(iterations))).toBe(stored);
    // And ensureAppRole stores exactly such a verifier (no clear text in pg_authid or the logs).
    const app = await sql<{
      rolpassword: string;
    }>`SELECT rolpassword FROM pg_authid WHERE rolname = ${appRoleName}`.execute(handle.db);
    const [, appIterations, appSalt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(app.rows[0]!.rolpassword)!;
    expect(scramSha256Verifier(password, Buffer.from(appSalt!, 'base64'), Number(appIterations))).toBe(
      app.rows[0]!.rolpassword,
    );
  });
});
