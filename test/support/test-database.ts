import { inject } from 'vitest';
import { createDatabase, type DatabaseConfig, type DatabaseHandle } from '../../lib/db/create-database';
import { migrateToLatest } from '../../lib/db/migrate';

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
