import type { AddressInfo } from 'node:net';
import { localSettings } from '../config';
import type { DatabaseHandle } from '../db/create-database';
import { migrateToLatest } from '../db/migrate';
import { config, installRuntime } from '../runtime';
import { localCorsConfiguration } from './cors';
import { clientUrl } from './local-address';
import { type LocalAuthConfig, localAuthConfig } from './local-auth';
import { type LocalServer, type LocalServerOptions, startLocalServer } from './local-server';

export interface LocalStackOptions {
  port: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
}

/** Migrates the database, hands it to the functions, and serves the route table, the event bus and the WebSocket API. */
export async function startLocalStack(database: DatabaseHandle, options: LocalStackOptions): Promise<LocalServer> {
  await migrateToLatest(database.db);
  const gateway = localGatewayOptions(database, options);
  const server = await startLocalServer(gateway);
  const { port } = server.server.address() as AddressInfo;
  provideFunctionEnvironment(clientUrl(options.host ?? '127.0.0.1', port), server.managementEndpoint, gateway.auth);
  // After the environment: the runtime's publisher reads the management endpoint. Only microtasks
  // run between the listen and here, so no request is served before the runtime is installed.
  installRuntime(database);
  return server;
}

/**
 * What the CDK stack writes into the WebSocket functions' environment, and the Lambda runtime
 * provides to every function, given to the handlers this process runs. They read `config` when
 * their module loads, on first use (a cold start), which is after this.
 * - WEBSOCKET_MANAGEMENT_ENDPOINT: the WebSocket gateway's management API on its own port (the
 *   stack's `/ws/@connections` forwards there too), so a write's publisher reaches the local
 *   sockets as it reaches API Gateway's, without a hop through the stack's process;
 * - AUTH_ISSUER, AUTH_CLIENT_IDS, AUTH_JWKS_URI: the local Cognito stand-in, whose JWKS this
 *   server serves, for the WebSocket authorizer;
 * - AWS_REGION and credentials, as Lambda sets them, so the SDK client can sign its calls: only
 *   when the environment names none (credentials: nor a profile, nor the Data API, which needs
 *   real ones); the management API checks the signature's scope, not its secret.
 */
function provideFunctionEnvironment(url: string, managementEndpoint: string, auth: LocalAuthConfig) {
  config.webSocketManagementEndpoint = managementEndpoint;
  config.auth = { issuer: auth.issuer, clientIds: [auth.audience], jwksUri: `${url}/.well-known/jwks.json` };
  process.env.AWS_REGION ??= 'us-east-1';
  if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE && config.database.kind !== 'data-api') {
    process.env.AWS_ACCESS_KEY_ID = 'local';
    process.env.AWS_SECRET_ACCESS_KEY = 'local';
  }
}

/**
 * The gateway's settings from the environment (JWT authorizer, CORS, the event bus, the WebSocket
 * API's limits) and the
 * database's statement counts at /local/stats: the service's stack and the benchmark's plan
 * baseline (lib/bench/plan-baseline/stack.ts) stand behind the same gateway.
 */
export function localGatewayOptions(database: DatabaseHandle, options: LocalStackOptions) {
  const env = options.env ?? process.env;
  const settings = localSettings(env);
  return {
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
    webSocket: { idleSeconds: settings.LOCAL_WS_IDLE_SECONDS, maxSeconds: settings.LOCAL_WS_MAX_SECONDS },
  } satisfies LocalServerOptions;
}
