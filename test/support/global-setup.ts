import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { appRoleName, ensureAppRole } from '../../lib/db/app-role';
import { createDatabase } from '../../lib/db/create-database';
import { migrateToLatest } from '../../lib/db/migrate';
import { type DataApiStandIn, startDataApiStandIn } from './data-api-standin';

/** Test-only; one fixed value because the role is server-wide and runs may overlap. */
const appRolePassword = 'messaging-app-local-test';

/**
 * Picks the back end for the whole run from TEST_BACKEND:
 * - `pglite` (default): each test file opens its own embedded database; nothing to set up;
 * - `postgres`: a fresh database on DATABASE_URL's server, migrated once, dropped at the end;
 * - `data-api`: the same, reached through the real RDS Data API client via the stand-in.
 * Both server back ends migrate as the owner, then serve the tests as the application role (as the
 * deployed functions do), so a grant the role lacks fails a test.
 */
export type TestBackend = 'pglite' | 'postgres' | 'data-api';

declare module 'vitest' {
  export interface ProvidedContext {
    backend: TestBackend;
    databaseUrl: string;
    dataApiEndpoint: string;
  }
}

export default async function setup(project: TestProject) {
  const backend = (process.env.TEST_BACKEND ?? 'pglite') as TestBackend;
  if (!['pglite', 'postgres', 'data-api'].includes(backend)) throw new Error(`Unknown TEST_BACKEND ${backend}`);
  // The header says what ran: the Node that npm's PATH put first (the pinned `node` package) and the back end.
  console.log(`tests on Node ${process.version}, back end ${backend}`);
  project.provide('backend', backend);
  project.provide('databaseUrl', '');
  project.provide('dataApiEndpoint', '');
  if (backend === 'pglite') return;

  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `msgtest_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  try {
    await admin.connect();
  } catch (error) {
    // The PostgreSQL suites need a server; say which and how to get one, in one line.
    throw new Error(
      `PostgreSQL is not reachable at ${serverUrl} (${(error as Error).message}): start it ` +
        '(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set DATABASE_URL',
    );
  }
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const handle = await createDatabase({ kind: 'postgres', connectionString: databaseUrl, poolSize: 2 });
  await migrateToLatest(handle.db);
  await ensureAppRole(handle.db, { password: appRolePassword });
  await handle.close();
  url.username = appRoleName;
  url.password = appRolePassword;
  const appDatabaseUrl = url.toString();
  project.provide('databaseUrl', appDatabaseUrl);

  let standIn: DataApiStandIn | undefined;
  if (backend === 'data-api') {
    standIn = await startDataApiStandIn(appDatabaseUrl);
    project.provide('dataApiEndpoint', standIn.endpoint);
  }

  return async () => {
    await standIn?.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  };
}
