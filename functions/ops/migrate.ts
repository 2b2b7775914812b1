import { migrateToLatest } from '../../lib/db/migrate';
import { logger } from '../commons/logger';
import { useRuntime } from '../commons/runtime';

/**
 * Runs at deploy time (a CDK trigger, after the cluster exists): Kysely's Migrator over the Data
 * API. A failure throws, which fails the trigger and so the deployment.
 */
export const handler = async (): Promise<{ applied: string[] }> => {
  const { database } = await useRuntime();
  const result = await migrateToLatest(database.db);
  const applied = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  logger.info('migrations applied', { applied: applied.join(',') || 'none' });
  return { applied };
};
