import { localSettings } from '../../config';
import type { DatabaseHandle } from '../../db/create-database';
import { localCorsConfiguration } from '../../local/cors';
import { localAuthConfig } from '../../local/local-auth';
import { type LocalServer, startLocalServer } from '../../local/local-server';
import { config, installRuntime } from '../../runtime';
import { planHandlers } from './handlers';
import { planRouteList } from './routes';

/**
 * The plan's handlers behind the same local gateway as the service (JWT authorizer, payload 2.0
 * events, CORS), over a database holding the plan's schema (./schema.ts), which this does not
 * create: the benchmark copies the data into it, the test seeds it. /local/stats counts the
 * statements and transactions the handlers send, as the service's stack does.
 */
export async function startPlanStack(
  database: DatabaseHandle,
  options: { port: number; host?: string; env?: NodeJS.ProcessEnv },
): Promise<LocalServer> {
  const env = options.env ?? process.env;
  const settings = localSettings(env);
  // The handlers' middy stack reads the database from the runtime; here it is the plan's.
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
    http: {
      routes: planRouteList,
      load: async (route) => {
        const handler = planHandlers[route.id];
        if (!handler) throw new Error(`the plan baseline has no handler for ${route.id}`);
        return handler;
      },
    },
  });
}
