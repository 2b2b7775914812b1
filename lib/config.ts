import * as z from 'zod/mini';
import type { DatabaseConfig } from './db/create-database';
import { checkableContentTypes, isCheckableContentType } from './messaging/attachment-types';
import {
  type AttachmentSettings,
  DEFAULT_ATTACHMENT_MAX_BYTES,
  defaultAttachmentContentTypes,
  defaultClosingStatuses,
  defaultLimits,
  MAX_RATE_LIMIT,
  type MessagingLimits,
} from './messaging/limits';

/**
 * Every environment variable a function or the local stack reads, written once as a zod schema.
 * Functions read it once, at cold start: a bad value fails there, with one line naming the
 * variable, instead of becoming NaN somewhere later. The CDK stack writes each function's
 * environment through `functionEnvironment`, whose keys are this schema's, so no name is typed
 * twice.
 */

/** A whole number at least `min` (and at most `max`), from its decimal string, with a default. */
const whole = (fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER) => {
  const rule = max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
  return z.prefault(
    z.pipe(
      z.string().check(z.regex(/^\d+$/, { error: `must be ${rule}` })),
      z.pipe(
        z.transform(Number),
        z.number().check(z.int(), z.gte(min, { error: `must be ${rule}` }), z.lte(max, { error: `must be ${rule}` })),
      ),
    ),
    String(fallback),
  );
};
const text = (fallback: string) =>
  z.prefault(z.string().check(z.minLength(1, { error: 'must not be empty' })), fallback);
const optionalText = () => z.optional(z.string());
/** Comma-separated, trimmed, empty entries dropped. */
const list = (fallback: string[]) =>
  z.prefault(
    z.pipe(
      z.string(),
      z.transform((raw) =>
        raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    ),
    fallback.join(','),
  );

/** What every function reads. */
export const functionEnvironmentSchema = z.object({
  DB_CLUSTER_ARN: optionalText(),
  DB_SECRET_ARN: optionalText(),
  DB_NAME: text('messaging'),
  DB_RESUME_RETRY_MS: whole(15_000, 0),
  DATABASE_URL: optionalText(),
  DATABASE_POOL_SIZE: whole(10),
  PGLITE_DATA_DIR: optionalText(),
  SEND_RATE_LIMIT: whole(defaultLimits.sendLimit, 1, MAX_RATE_LIMIT),
  SEND_RATE_WINDOW_SECONDS: whole(defaultLimits.sendWindowSeconds),
  CREATE_CONVERSATION_RATE_LIMIT: whole(defaultLimits.createConversationLimit, 1, MAX_RATE_LIMIT),
  CREATE_CONVERSATION_RATE_WINDOW_SECONDS: whole(defaultLimits.createConversationWindowSeconds),
  ADD_PARTICIPANT_RATE_LIMIT: whole(defaultLimits.addParticipantLimit, 1, MAX_RATE_LIMIT),
  ADD_PARTICIPANT_RATE_WINDOW_SECONDS: whole(defaultLimits.addParticipantWindowSeconds),
  ATTACHMENT_RATE_LIMIT: whole(defaultLimits.attachmentLimit, 1, MAX_RATE_LIMIT),
  ATTACHMENT_RATE_WINDOW_SECONDS: whole(defaultLimits.attachmentWindowSeconds),
  /** The private bucket attachments are uploaded to; unset: the attachment routes answer 503. */
  ATTACHMENTS_BUCKET: optionalText(),
  /** Another S3 endpoint (path-style): the local stack's. Unset in AWS. */
  ATTACHMENTS_S3_ENDPOINT: z.optional(z.url({ error: 'must be a URL' })),
  /** At most 5 GiB: S3's largest single PUT. */
  ATTACHMENT_MAX_BYTES: whole(DEFAULT_ATTACHMENT_MAX_BYTES, 1, 5 * 1024 ** 3),
  /** Comma-separated media types an upload may declare (each checked against the file's first bytes). */
  ATTACHMENT_CONTENT_TYPES: z.pipe(
    z.pipe(
      list(defaultAttachmentContentTypes),
      z.transform((types) => types.map((t) => t.toLowerCase())),
    ),
    z.array(z.string()).check(
      z.minLength(1, { error: 'must name at least one type (none would refuse every upload)' }),
      z.refine((types) => types.every(isCheckableContentType), {
        error: `must list only types the upload check knows: ${checkableContentTypes.join(', ')}`,
      }),
    ),
  ),
  /**
   * How long a presigned upload stays valid; at most an hour: a URL signed with a Lambda's
   * temporary credentials ends with them anyway, and an upload must be long done before the
   * sweep takes unsent ones (24 h).
   */
  ATTACHMENT_UPLOAD_EXPIRY_SECONDS: whole(300, 1, 3600),
  /** How long a presigned download stays valid; at most an hour, for the same credentials. */
  ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS: whole(300, 1, 3600),
  MAX_BODY_BYTES: whole(256 * 1024),
  LOG_LEVEL: z.prefault(
    z.enum(['debug', 'info', 'warn', 'error', 'silent'], { error: 'must be one of debug, info, warn, error, silent' }),
    'info',
  ),
  ORDER_EVENT_SOURCE: text('order-service'),
  /** Labels logs and metrics; the stack sets it. */
  STAGE: text('local'),
  /** The migration's: the application role's secret, whose user it creates. */
  APP_DB_SECRET_ARN: optionalText(),
  /**
   * The WebSocket API's management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`,
   * locally `http://127.0.0.1:{port}/ws`): writes push their change to the connections it returns.
   * Unset: nothing is pushed (a function without the connections binding).
   */
  WEBSOCKET_MANAGEMENT_ENDPOINT: z.optional(z.url({ error: 'must be a URL' })),
  /**
   * The function a write hands its pushes to (functions/ops/push-fanout.ts), invoked
   * asynchronously; unset: the write pushes inside the request, as the stacks deploy it. The
   * fan-out function itself has it unset and WEBSOCKET_MANAGEMENT_ENDPOINT set.
   */
  WEBSOCKET_FANOUT_FUNCTION: optionalText(),
  /** The authorizer's: the user pool's issuer (`https://cognito-idp.{region}.amazonaws.com/{poolId}`). */
  AUTH_ISSUER: optionalText(),
  /** The authorizer's: the app clients whose access tokens are accepted (`client_id`), comma-separated. */
  AUTH_CLIENT_IDS: list([]),
  /** The authorizer's: where the signing keys are; unset: the issuer's `/.well-known/jwks.json`. */
  AUTH_JWKS_URI: z.optional(z.url({ error: 'must be a URL' })),
  ORDER_CLOSING_STATUSES: z.pipe(
    list(defaultClosingStatuses),
    z.transform((statuses) => statuses.map((s) => s.toLowerCase())),
  ),
  /** A digest covers messages unread this long (and none comes sooner than this after the last). */
  NOTIFY_DELAY_SECONDS: whole(300, 1, 7 * 24 * 3600),
  /** Conversations claimed by one digest sweep statement. */
  NOTIFY_BATCH: whole(100, 1, 1000),
  /** Emails a sweep hands SES per second at most: the account's maximum send rate (14 by default in production). */
  NOTIFY_SEND_RATE: whole(10, 1, 10_000),
  /** The digests' sender (`Name <address>` or an address) at the SES identity; unset: no email is sent. */
  EMAIL_FROM: optionalText(),
  /** The SES configuration set whose events (bounces, complaints) come back through EventBridge. */
  SES_CONFIGURATION_SET: optionalText(),
  /** Another SES v2 endpoint: the local stack's. Unset in AWS. */
  SES_ENDPOINT: z.optional(z.url({ error: 'must be a URL' })),
  /** The API's public base URL, for the unsubscribe links in emails. */
  PUBLIC_API_URL: z.optional(z.url({ error: 'must be a URL' })),
  /** The secret whose value keys unsubscribe links (AWS)… */
  UNSUBSCRIBE_SECRET_ARN: optionalText(),
  /** …or the key itself (the local stack), at least 32 characters. */
  UNSUBSCRIBE_KEY: z.optional(z.string().check(z.minLength(32, { error: 'must be at least 32 characters' }))),
  /** The `source` of the events this service publishes. */
  EVENT_SOURCE: text('messaging-service'),
  /** The bus they go to. */
  OUTGOING_EVENT_BUS: text('default'),
  /** Another EventBridge endpoint: the local stack's. Unset in AWS. */
  OUTGOING_EVENTS_ENDPOINT: z.optional(z.url({ error: 'must be a URL' })),
  /** The relay function a write invokes asynchronously after it queued events; unset: the schedule alone relays. */
  OUTBOX_RELAY_FUNCTION: optionalText(),
  /** Another Lambda endpoint: the local stack's. Unset in AWS. */
  LAMBDA_ENDPOINT: z.optional(z.url({ error: 'must be a URL' })),
});

/** What the local stack (`npm start`, the tests) and its commands read besides. */
export const localEnvironmentSchema = z.object({
  PORT: whole(3000, 0),
  HOST: text('127.0.0.1'),
  EVENT_BUS_NAME: text('default'),
  LOCAL_EVENT_MAX_ATTEMPTS: whole(3),
  LOCAL_EVENT_RETRY_DELAY_MS: whole(200, 0),
  LOCAL_JWT_KEY_FILE: text('.data/local-jwt-key.json'),
  LOCAL_JWT_ISSUER: text('https://cognito-idp.local.amazonaws.com/local_messaging'),
  LOCAL_JWT_AUDIENCE: text('local-messaging-client'),
  LOCAL_STACK_FILE: text('.data/local-stack.json'),
  /** Comma-separated; unset: the dev stage's origins; empty: no CORS. */
  CORS_ORIGINS: z.optional(z.string()),
  EVENTBRIDGE_ENDPOINT: z.optional(z.url({ error: 'must be a URL' })),
  /** The local WebSocket API closes a connection idle this long (API Gateway: 10 minutes). */
  LOCAL_WS_IDLE_SECONDS: whole(600),
  /** …and any connection after this long (API Gateway: 2 hours). */
  LOCAL_WS_MAX_SECONDS: whole(7200),
  /**
   * Where writes push from: `request` (inside the request, as the stacks deploy it) or `async`
   * (handed to the fan-out function through the local Lambda endpoint; the benchmark compares them).
   */
  LOCAL_WS_FANOUT: z.prefault(z.enum(['request', 'async'], { error: 'must be request or async' }), 'request'),
  /** The local S3 endpoint keeps the attachments bucket's objects here. */
  LOCAL_S3_DIRECTORY: text('.data/s3'),
  /** The bucket's name locally (in AWS the stack names it). */
  LOCAL_ATTACHMENTS_BUCKET: text('messaging-local-attachments'),
  /** How often the local stack sweeps unattached and deleted attachments (in AWS: an hourly schedule). */
  LOCAL_ATTACHMENT_SWEEP_SECONDS: whole(3600),
  /** How often the local stack sends due digests and relays leftover events (in AWS: every minute). */
  NOTIFY_SWEEP_SECONDS: whole(60),
});

/** The local stack's settings, parsed (throws one line naming a bad variable). */
export const localSettings = (env: NodeJS.ProcessEnv = process.env) => parseEnvironment(localEnvironmentSchema, env);

export type FunctionEnvironment = z.input<typeof functionEnvironmentSchema>;

/** Everything the functions read from the environment, typed. */
export interface FunctionConfig {
  /** `dev`, `prod`, or `local` (npm start, tests): labels logs and metrics. */
  stage: string;
  /** The migration's only: the application role's secret. */
  appDatabaseSecretArn?: string;
  database: DatabaseConfig;
  limits: MessagingLimits;
  /** Bodies larger than this answer 413 before any parsing. */
  maxBodyBytes: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** The EventBridge source of order events. */
  orderEventSource: string;
  /** Order statuses that close the order's conversation. */
  closingStatuses: string[];
  /** The WebSocket management endpoint; undefined: writes push nothing. */
  webSocketManagementEndpoint?: string;
  /** The asynchronous fan-out function; undefined: writes push inside the request. */
  webSocketFanoutFunction?: string;
  /** The WebSocket authorizer's token rules (only the authorizer reads them). */
  auth: { issuer?: string; clientIds: string[]; jwksUri?: string };
  attachments: AttachmentConfig;
  notifications: NotificationConfig;
  outgoingEvents: OutgoingEventsConfig;
}

export interface NotificationConfig {
  delaySeconds: number;
  batch: number;
  sendRate: number;
  /** Undefined: digests are not sent (the sweep function is not bound to SES). */
  from?: string;
  configurationSet?: string;
  endpoint?: string;
  publicApiUrl?: string;
  unsubscribeSecretArn?: string;
  unsubscribeKey?: string;
}

export interface OutgoingEventsConfig {
  source: string;
  bus: string;
  endpoint?: string;
  relayFunction?: string;
  lambdaEndpoint?: string;
}

export interface AttachmentConfig extends AttachmentSettings {
  /** Undefined: no bucket is bound, and the attachment routes answer 503. */
  bucket?: string;
  /** A path-style S3 endpoint instead of AWS's (the local stack). */
  endpoint?: string;
}

/** Parses a schema from the environment, or throws one line naming each bad variable. */
export function parseEnvironment<S extends z.ZodMiniObject>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const input = Object.fromEntries(
    Object.keys(schema.shape).flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])),
  );
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
  throw new ConfigurationError(`Invalid configuration: ${problems.join('; ')}`);
}

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

export function readConfig(env: NodeJS.ProcessEnv): FunctionConfig {
  const e = parseEnvironment(functionEnvironmentSchema, env);
  return {
    stage: e.STAGE,
    appDatabaseSecretArn: e.APP_DB_SECRET_ARN,
    database: databaseConfigOf(e),
    limits: {
      sendLimit: e.SEND_RATE_LIMIT,
      sendWindowSeconds: e.SEND_RATE_WINDOW_SECONDS,
      createConversationLimit: e.CREATE_CONVERSATION_RATE_LIMIT,
      createConversationWindowSeconds: e.CREATE_CONVERSATION_RATE_WINDOW_SECONDS,
      addParticipantLimit: e.ADD_PARTICIPANT_RATE_LIMIT,
      addParticipantWindowSeconds: e.ADD_PARTICIPANT_RATE_WINDOW_SECONDS,
      attachmentLimit: e.ATTACHMENT_RATE_LIMIT,
      attachmentWindowSeconds: e.ATTACHMENT_RATE_WINDOW_SECONDS,
    },
    maxBodyBytes: e.MAX_BODY_BYTES,
    logLevel: e.LOG_LEVEL,
    orderEventSource: e.ORDER_EVENT_SOURCE,
    closingStatuses: e.ORDER_CLOSING_STATUSES,
    webSocketManagementEndpoint: e.WEBSOCKET_MANAGEMENT_ENDPOINT,
    webSocketFanoutFunction: e.WEBSOCKET_FANOUT_FUNCTION,
    auth: { issuer: e.AUTH_ISSUER, clientIds: e.AUTH_CLIENT_IDS, jwksUri: e.AUTH_JWKS_URI },
    attachments: {
      bucket: e.ATTACHMENTS_BUCKET,
      endpoint: e.ATTACHMENTS_S3_ENDPOINT,
      maxBytes: e.ATTACHMENT_MAX_BYTES,
      contentTypes: e.ATTACHMENT_CONTENT_TYPES,
      uploadExpirySeconds: e.ATTACHMENT_UPLOAD_EXPIRY_SECONDS,
      downloadExpirySeconds: e.ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS,
    },
    notifications: {
      delaySeconds: e.NOTIFY_DELAY_SECONDS,
      batch: e.NOTIFY_BATCH,
      sendRate: e.NOTIFY_SEND_RATE,
      from: e.EMAIL_FROM,
      configurationSet: e.SES_CONFIGURATION_SET,
      endpoint: e.SES_ENDPOINT,
      publicApiUrl: e.PUBLIC_API_URL,
      unsubscribeSecretArn: e.UNSUBSCRIBE_SECRET_ARN,
      unsubscribeKey: e.UNSUBSCRIBE_KEY,
    },
    outgoingEvents: {
      source: e.EVENT_SOURCE,
      bus: e.OUTGOING_EVENT_BUS,
      endpoint: e.OUTGOING_EVENTS_ENDPOINT,
      relayFunction: e.OUTBOX_RELAY_FUNCTION,
      lambdaEndpoint: e.LAMBDA_ENDPOINT,
    },
  };
}

/**
 * The database, in order: the Data API when a cluster ARN is set (Lambda), node-postgres when
 * DATABASE_URL is set, else embedded PGlite (in memory, or in PGLITE_DATA_DIR).
 */
function databaseConfigOf(e: z.output<typeof functionEnvironmentSchema>): DatabaseConfig {
  if (e.DB_CLUSTER_ARN) {
    if (!e.DB_SECRET_ARN)
      throw new ConfigurationError('Invalid configuration: DB_SECRET_ARN must be set when DB_CLUSTER_ARN is');
    return {
      kind: 'data-api',
      resourceArn: e.DB_CLUSTER_ARN,
      secretArn: e.DB_SECRET_ARN,
      database: e.DB_NAME,
      resumeRetryMs: e.DB_RESUME_RETRY_MS,
    };
  }
  if (e.DATABASE_URL) return { kind: 'postgres', connectionString: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE };
  return { kind: 'pglite', dataDir: e.PGLITE_DATA_DIR || undefined };
}

/**
 * A function's environment as the CDK stack writes it: keys checked against the schema, values
 * as strings. Only what differs from the defaults needs to be given.
 */
export type FunctionEnvironmentValues = { [K in keyof FunctionEnvironment]?: string | number };

export function functionEnvironment(values: FunctionEnvironmentValues): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)]])),
  );
}
