import type { DatabaseHandle } from '../../db/create-database';
import { type LocalServer, startLocalServer } from '../../local/local-server';
import { localGatewayOptions } from '../../local/local-stack';
import { installRuntime } from '../../runtime';
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
  // The handlers' middy stack reads the database from the runtime; here it is the plan's.
  installRuntime(database);
  return startLocalServer({
    ...localGatewayOptions(database, options),
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
