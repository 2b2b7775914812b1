import { localSettings } from '../config';
import type { DatabaseHandle } from '../db/create-database';
import { migrateToLatest } from '../db/migrate';
import { config, installRuntime } from '../runtime';
import { localCorsConfiguration } from './cors';
import { localAuthConfig } from './local-auth';
import { type LocalServer, startLocalServer } from './local-server';

export interface LocalStackOptions {
  port: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
}

/** Migrates the database, hands it to the functions, and serves the route table and the event bus. */
export async function startLocalStack(database: DatabaseHandle, options: LocalStackOptions): Promise<LocalServer> {
  const env = options.env ?? process.env;
  const settings = localSettings(env);
  await migrateToLatest(database.db);
  installRuntime(database);
  return startLocalServer({
    port: options.port,
    host: options.host,
    auth: localAuthConfig(env),
    cors: localCorsConfiguration(env),
    stats: () => ({ statements: database.counter.statements, transactions: database.counter.transactions }),
    events: {
      busName: settings.EVENT_BUS_NAME,
      source: config.orderEventSource,
      maxAttempts: settings.LOCAL_EVENT_MAX_ATTEMPTS,
      retryDelayMs: settings.LOCAL_EVENT_RETRY_DELAY_MS,
    },
  });
}
