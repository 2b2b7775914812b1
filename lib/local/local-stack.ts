import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { S3Event } from 'aws-lambda';
import { localSettings, readConfig } from '../config';
import type { DatabaseHandle } from '../db/create-database';
import { migrateToLatest } from '../db/migrate';
import { config, installRuntime } from '../runtime';
import { localCorsConfiguration } from './cors';
import { clientUrl } from './local-address';
import { type LocalAuthConfig, localAuthConfig } from './local-auth';
import { ephemeralUnsubscribeKey, LocalNotifications, localFunctionNames } from './local-notifications';
import { LocalS3 } from './local-s3';
import { type LocalServer, type LocalServerOptions, lambdaContext, startLocalServer } from './local-server';

export interface LocalStackOptions {
  port: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Migrates the database, hands it to the functions, and serves the route table, the event bus,
 * the WebSocket API and the attachments bucket's S3 endpoint (whose ObjectCreated runs the same
 * check function as in AWS).
 */
export interface LocalStack extends LocalServer {
  attachments: LocalAttachmentsBucket;
  /** Captured mail, the digest sweep and the outbox relay. */
  notifications: LocalNotifications;
}

export async function startLocalStack(database: DatabaseHandle, options: LocalStackOptions): Promise<LocalStack> {
  await migrateToLatest(database.db);
  const gateway = localGatewayOptions(database, options);
  const settings = localSettings(options.env ?? process.env);
  process.env.AWS_REGION ??= 'us-east-1';
  const region = process.env.AWS_REGION;
  provideCredentials();
  const credentials = await defaultProvider()();
  const bucket = new LocalAttachmentsBucket(settings, region, gateway.cors?.allowOrigins ?? [], {
    [credentials.accessKeyId]: credentials.secretAccessKey,
  });
  const notifications = new LocalNotifications(region, { [credentials.accessKeyId]: credentials.secretAccessKey });
  const server = await startLocalServer({
    ...gateway,
    services: [bucket.s3, notifications.ses, notifications.lambda],
  });
  const { port } = server.server.address() as AddressInfo;
  const url = clientUrl(options.host ?? '127.0.0.1', port);
  provideFunctionEnvironment(url, server.managementEndpoint, gateway.auth);
  const configured = readConfig(options.env ?? process.env);
  // The stack's own settings (a test's rate limits among them), read before the runtime is built.
  config.limits = configured.limits;
  config.attachments = { ...configured.attachments, bucket: bucket.name, endpoint: url };
  // SES, EventBridge and Lambda are this server; the unsubscribe links point at it too.
  config.notifications = {
    ...configured.notifications,
    from: configured.notifications.from ?? 'Messaging (local) <notifications@messaging.local>',
    endpoint: url,
    publicApiUrl: configured.notifications.publicApiUrl ?? url,
    unsubscribeKey: configured.notifications.unsubscribeKey ?? ephemeralUnsubscribeKey(),
  };
  config.outgoingEvents = {
    ...configured.outgoingEvents,
    bus: settings.EVENT_BUS_NAME,
    endpoint: url,
    relayFunction: localFunctionNames.relayOutbox,
    lambdaEndpoint: url,
  };
  config.webSocketFanoutFunction = settings.LOCAL_WS_FANOUT === 'async' ? localFunctionNames.pushFanout : undefined;
  // After the environment: the runtime's publisher reads the management endpoint. Only microtasks
  // run between the listen and here, so no request is served before the runtime is installed.
  installRuntime(database);
  bucket.startSweeping(settings.LOCAL_ATTACHMENT_SWEEP_SECONDS);
  notifications.start(settings.NOTIFY_SWEEP_SECONDS);
  const close = server.close.bind(server);
  return Object.assign(server, {
    attachments: bucket,
    notifications,
    async close() {
      await Promise.all([bucket.close(), notifications.close()]);
      await close();
    },
  });
}

/**
 * The attachments bucket: the local S3 endpoint, its ObjectCreated notifications delivered to
 * functions/events/on-attachment-uploaded.ts as S3 invokes it (asynchronously, retried twice
 * after a failure), and the sweep run on a timer as the hourly schedule runs it in AWS.
 */
export class LocalAttachmentsBucket {
  readonly name: string;
  /** Where the objects are kept. */
  readonly directory: string;
  readonly s3: LocalS3;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();

  constructor(
    settings: ReturnType<typeof localSettings>,
    region: string,
    corsOrigins: string[],
    credentials: Record<string, string>,
  ) {
    this.name = settings.LOCAL_ATTACHMENTS_BUCKET;
    this.directory = join(settings.LOCAL_S3_DIRECTORY, this.name);
    this.s3 = new LocalS3({
      bucket: this.name,
      region,
      directory: this.directory,
      credentials,
      corsOrigins,
      onObjectCreated: (event) => this.deliver(event),
    });
  }

  private async deliver(event: S3Event): Promise<unknown> {
    const { handler } = await import('../../functions/events/on-attachment-uploaded');
    let failure: unknown;
    // Lambda's asynchronous invocation: the first attempt and two retries.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      try {
        return await handler(event, lambdaContext('on-attachment-uploaded'));
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  }

  /** One sweep, as the schedule runs it (tests call it rather than wait). */
  async sweep(): Promise<{ deleted: number }> {
    const { handler } = await import('../../functions/ops/sweep-attachments');
    const run = handler();
    this.sweeping = run.catch(() => {});
    return run;
  }

  startSweeping(seconds: number) {
    this.timer = setInterval(() => {
      this.sweep().catch((error) =>
        console.error(JSON.stringify({ level: 'error', message: 'attachment sweep failed', error: String(error) })),
      );
    }, seconds * 1000);
    this.timer.unref();
  }

  async close() {
    clearInterval(this.timer);
    await Promise.all([this.s3.settled(), this.sweeping]);
  }
}

/**
 * The credentials the Lambda runtime would give the functions, when the environment names none
 * (nor a profile, nor the Data API, which needs real ones): the SDK clients sign with them, and
 * the local S3 endpoint verifies signatures against them; the management API checks the
 * signature's scope, not its secret.
 */
function provideCredentials() {
  if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE && config.database.kind !== 'data-api') {
    process.env.AWS_ACCESS_KEY_ID = 'local';
    process.env.AWS_SECRET_ACCESS_KEY = 'local';
  }
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
 * - AWS_REGION and credentials, as Lambda sets them (provideCredentials);
 * - the attachments bucket and its endpoint (this server), with the attachment settings.
 */
function provideFunctionEnvironment(url: string, managementEndpoint: string, auth: LocalAuthConfig) {
  config.webSocketManagementEndpoint = managementEndpoint;
  config.auth = { issuer: auth.issuer, clientIds: [auth.audience], jwksUri: `${url}/.well-known/jwks.json` };
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
