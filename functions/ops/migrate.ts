import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ensureAppRole } from '../../lib/db/app-role';
import { createDatabase, type DatabaseHandle } from '../../lib/db/create-database';
import { migrateToLatest } from '../../lib/db/migrate';
import { config } from '../../lib/function-config';
import { logger } from '../commons/logger';

/**
 * Runs at deploy time (a CDK trigger, after the cluster exists and before any consumer stack):
 * Kysely's Migrator over the Data API as the cluster's admin user, then the application role
 * (created if missing, its password and grants re-applied). A failure throws, which fails the
 * trigger and so the deployment. Safe to invoke by hand (runbook: after rotating the app secret).
 */
/** The database only, not the runtime: the migration needs no messaging domain in its bundle. */
let opened: Promise<DatabaseHandle> | undefined;

export const handler = async (): Promise<{ applied: string[] }> => {
  opened ??= createDatabase(config.database);
  const database = await opened;
  const result = await migrateToLatest(database.db);
  const applied = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (!config.appDatabaseSecretArn) throw new Error('APP_DB_SECRET_ARN must be set');
  const { username, password } = await appRoleSecret(config.appDatabaseSecretArn);
  await ensureAppRole(database.db, { name: username, password });
  logger.info('migrations applied', { applied: applied.join(',') || 'none', appRole: username });
  return { applied };
};

async function appRoleSecret(secretId: string): Promise<{ username: string; password: string }> {
  const client = new SecretsManagerClient({});
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    const secret = JSON.parse(SecretString ?? '{}') as { username?: string; password?: string };
    if (!secret.username || !secret.password) throw new Error(`${secretId} has no username and password`);
    return { username: secret.username, password: secret.password };
  } finally {
    client.destroy();
  }
}
