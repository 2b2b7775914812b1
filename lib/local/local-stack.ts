import type { DatabaseHandle } from '../db/create-database';
import { migrateToLatest } from '../db/migrate';
import { installRuntime } from '../../functions/commons/runtime';
import { config } from '../../functions/commons/config';
import { localCorsConfiguration } from './cors';
import { localAuthConfig } from './local-auth';
import { startLocalServer, type LocalServer } from './local-server';

export interface LocalStackOptions {
  port: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
}

/** Migrates the database, hands it to the functions, and serves the route table and the event bus. */
export async function startLocalStack(database: DatabaseHandle, options: LocalStackOptions): Promise<LocalServer> {
  const env = options.env ?? process.env;
  await migrateToLatest(database.db);
  installRuntime(database);
  return startLocalServer({
    port: options.port,
    host: options.host,
    auth: localAuthConfig(env),
    cors: localCorsConfiguration(env),
    stats: () => ({ statements: database.counter.statements, transactions: database.counter.transactions }),
    events: {
      busName: env.EVENT_BUS_NAME ?? 'default',
      source: config.orderEventSource,
      maxAttempts: Number(env.LOCAL_EVENT_MAX_ATTEMPTS ?? 3),
      retryDelayMs: Number(env.LOCAL_EVENT_RETRY_DELAY_MS ?? 200),
    },
  });
}
