import { createDatabase, type DatabaseHandle } from '../../lib/db/create-database';
import { MessagingService } from '../../lib/messaging/messaging-service';
import { OrderProjection } from '../../lib/messaging/order-projection';
import { config } from './config';

/**
 * What every function shares, created once per Lambda container (or once per local server):
 * the database handle and the services over it. Created on first use, not at import, so that
 * the local server and tests can install their own database first.
 */
export interface Runtime {
  database: DatabaseHandle;
  messaging: MessagingService;
  orders: OrderProjection;
}

let current: Promise<Runtime> | undefined;

export function useRuntime(): Promise<Runtime> {
  current ??= createDatabase(config.database).then(runtimeOver);
  return current;
}

/** For the local server and tests: serve from a database that is already open and migrated. */
export function installRuntime(database: DatabaseHandle): Runtime {
  const runtime = runtimeOver(database);
  current = Promise.resolve(runtime);
  return runtime;
}

function runtimeOver(database: DatabaseHandle): Runtime {
  return {
    database,
    messaging: new MessagingService(database.db, config.limits),
    orders: new OrderProjection(database.db, config.closingStatuses),
  };
}
