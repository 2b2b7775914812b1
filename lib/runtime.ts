import { createDatabase, type DatabaseHandle } from './db/create-database';
import { LambdaRelayNudge, noNudge, type RelayNudge } from './events/relay-nudge';
import { config } from './function-config';
import { type Domain, domainOver } from './messaging/sql';
import { LambdaFanoutPublisher } from './realtime/lambda-fanout-publisher';
import { ManagementApiPublisher } from './realtime/management-api-publisher';
import { type Publisher, silentPublisher } from './realtime/publisher';

/**
 * The composition root: the configuration (lib/function-config.ts) and the services over the
 * database. `functions/` and the local stack both depend on it; nothing here imports from them.
 */
export { config };

/**
 * What every function shares, created once per Lambda container (or once per local server):
 * the database handle and the messaging domain over it. Created on first use, not at import, so
 * that the local server and tests can install their own database first. The order projection is
 * the event functions' own (functions/commons/event-handler.ts): HTTP bundles do not carry it.
 */
export interface Runtime {
  database: DatabaseHandle;
  /** What the noun modules of lib/messaging work with: the database, the limits, the publisher. */
  domain: Domain;
  /** Invokes the outbox relay after a write that queued events (functions bound to `outboxRelay`). */
  relay: RelayNudge;
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
    // The bucket is added by the functions bound to it (withAttachmentFiles), so that only their
    // bundles carry the S3 code.
    domain: domainOver(database.db, config.limits, publisherOf(config), config.attachments),
    relay: config.outgoingEvents.relayFunction
      ? new LambdaRelayNudge({
          functionName: config.outgoingEvents.relayFunction,
          endpoint: config.outgoingEvents.lambdaEndpoint,
        })
      : noNudge,
  };
}

/**
 * Functions bound to the WebSocket connections push through its management API, inside the
 * request; with WEBSOCKET_FANOUT_FUNCTION they hand each push to that function instead (the
 * asynchronous fan-out the benchmark compares). Others push nothing.
 */
function publisherOf({
  webSocketFanoutFunction,
  webSocketManagementEndpoint,
  outgoingEvents,
}: typeof config): Publisher {
  // Only functions bound to the connections push at all, whichever way.
  if (webSocketFanoutFunction && webSocketManagementEndpoint)
    return new LambdaFanoutPublisher(
      { functionName: webSocketFanoutFunction, endpoint: outgoingEvents.lambdaEndpoint },
      (error) => warn('push not handed to the fan-out', error),
    );
  return managementPublisherOf(webSocketManagementEndpoint);
}

/** Pushes inside the caller, through the management API: the request's publisher, and the fan-out function's. */
export function managementPublisherOf(endpoint: string | undefined): Publisher {
  if (!endpoint) return silentPublisher;
  return new ManagementApiPublisher(endpoint, (connectionId, error) => warn('push failed', error, connectionId));
}

/** A raw JSON line like the functions' logger (lib/ does not import from functions/). */
function warn(message: string, error: unknown, connectionId?: string) {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.warn(JSON.stringify({ level: 'warn', message, connectionId, reason }));
}
