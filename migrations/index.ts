import type { Migration } from 'kysely';
import * as messaging from './0001-messaging';
import * as serialisedWrites from './0002-serialised-writes';

/**
 * Every migration, by name, in order. A static list rather than a folder read at run time, so
 * that the migration Lambda bundles them with esbuild.
 */
export const migrations: Record<string, Migration> = {
  '0001-messaging': messaging,
  '0002-serialised-writes': serialisedWrites,
};
