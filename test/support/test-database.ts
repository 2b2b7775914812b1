import pg from 'pg';
import { inject } from 'vitest';
import { ensureAppRole } from '../../lib/db/app-role';
import { createDatabase, type DatabaseConfig, type DatabaseHandle } from '../../lib/db/create-database';
import { migrateToLatest } from '../../lib/db/migrate';
import { type DataApiStandIn, startDataApiStandIn } from './data-api-standin';

export const backend = inject('backend');

/** The database config for this run's back end (see global-setup.ts). */
export function testDatabaseConfig(): DatabaseConfig {
  switch (backend) {
    case 'pglite':
      return { kind: 'pglite' };
    case 'postgres':
      return { kind: 'postgres', connectionString: inject('databaseUrl'), poolSize: 20 };
    case 'data-api':
      return {
        kind: 'data-api',
        endpoint: inject('dataApiEndpoint'),
        resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:messaging-standin',
        secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:messaging-standin',
        database: 'messaging',
        resumeRetryMs: 3_000,
      };
  }
}

/** Opens this run's database; PGlite starts empty in memory and is migrated here. */
export async function openTestDatabase(): Promise<DatabaseHandle> {
  const handle = await createDatabase(testDatabaseConfig());
  if (backend === 'pglite') await migrateToLatest(handle.db);
  handle.counter.reset();
  return handle;
}

/**
 * A database of the file's own, for what works on the whole database as it does in AWS: the digest
 * sweep and the outbox relay. On the server back ends every test file shares one database, so a
 * stack sweeping it would claim (and mail to its own /local/mail, publish to its own bus) other
 * files' digests and events, and theirs its. This one is created on the same server, migrated as
 * the owner and served as the app role as global-setup.ts does (reached directly, or through a
 * Data API stand-in of its own), and dropped when the handle closes. PGlite is per file already.
 */
export async function openPrivateTestDatabase(label: string): Promise<DatabaseHandle> {
  if (backend === 'pglite') return openTestDatabase();
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `msgtest_${label}_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const owner = await createDatabase({ kind: 'postgres', connectionString: url.toString(), poolSize: 2 });
  await migrateToLatest(owner.db);
  // The role and its password are global-setup's (server-wide); the grants are this database's.
  const appUrl = new URL(inject('databaseUrl'));
  await ensureAppRole(owner.db, { password: decodeURIComponent(appUrl.password) });
  await owner.close();
  url.username = appUrl.username;
  url.password = appUrl.password;
  let standIn: DataApiStandIn | undefined;
  let handle: DatabaseHandle;
  if (backend === 'data-api') {
    standIn = await startDataApiStandIn(url.toString());
    handle = await createDatabase({ ...testDatabaseConfig(), endpoint: standIn.endpoint } as DatabaseConfig);
  } else {
    handle = await createDatabase({ kind: 'postgres', connectionString: url.toString(), poolSize: 20 });
  }
  handle.counter.reset();
  const close = handle.close.bind(handle);
  handle.close = async () => {
    await close();
    await standIn?.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  };
  return handle;
}
