import { type FunctionEnvironment, functionEnvironmentSchema } from '../config';

/**
 * What differs between stages, read from CDK context (`cdk deploy -c stage=prod -c orderBusName=orders`).
 * Nothing here reaches AWS at synth time: synth stays offline.
 */
export interface StageConfig {
  stage: 'dev' | 'prod';
  /** Where the stacks go; both undefined only for an offline dev synth (environment-agnostic). */
  account?: string;
  region?: string;
  /** The order service's bus (imported by name); dev without one gets a bus of its own. */
  orderBusName?: string;
  orderEventSource: string;
  corsOrigins: string[];
  alarmEmail?: string;
  sendRateLimit: number;
  sendRateWindowSeconds: number;
  createConversationRateLimit: number;
  createConversationRateWindowSeconds: number;
  addParticipantRateLimit: number;
  addParticipantRateWindowSeconds: number;
  /** Attachment uploads started per user and window. */
  attachmentRateLimit: number;
  attachmentRateWindowSeconds: number;
  /** The largest attachment an upload may declare, in bytes. */
  attachmentMaxBytes: number;
  /** The media types an upload may declare (lower case). */
  attachmentContentTypes: string[];
  /** How long a presigned upload (PUT) and a presigned download (GET) stay valid. */
  attachmentUploadExpirySeconds: number;
  attachmentDownloadExpirySeconds: number;
  /** prod keeps data (deletion protection, snapshots, retained secrets); dev tears down cleanly. */
  keepData: boolean;
  /** prod stacks cannot be deleted until this is turned off on purpose. */
  terminationProtection: boolean;
  /** Aurora Serverless v2 capacity in ACUs; 0 lets an idle dev cluster pause. */
  minCapacity: number;
  maxCapacity: number;
  /**
   * Cognito's email through SES (required in prod: the built-in sender has a small daily cap).
   * `fromEmail` must be a verified SES identity, or an address of the verified `verifiedDomain`.
   */
  ses?: { fromEmail: string; fromName?: string; verifiedDomain?: string; configurationSet?: string };
  /**
   * The email digests' sender (the Notifications stack): the SES domain identity `domain`
   * (`-c emailDomain=…`; else Cognito's `sesVerifiedDomain`, else the domain of `sesFromEmail`; dev
   * without any: example.com, which sends nothing until verified), the From line (`-c emailFrom=…`,
   * default `notifications@<domain>`), and whether the stack creates the identity: not when it is
   * Cognito's verified domain, which exists in the account already (`-c emailIdentityExists=true|false`
   * overrides).
   */
  email: { domain: string; from: string; createIdentity: boolean };
  /** A digest covers messages unread this long (NOTIFY_DELAY_SECONDS). */
  notifyDelaySeconds: number;
  /** Conversations one digest sweep statement claims (NOTIFY_BATCH). */
  notifyBatch: number;
  /** The `source` of the domain events this service publishes (EVENT_SOURCE). */
  eventSource: string;
  /** The bus they go to, by name or ARN (OUTGOING_EVENT_BUS); `default` is the account's default bus. */
  outgoingEventBus: string;
}

/**
 * Stage throttling of the WebSocket API (its stage's default route settings: every route, `$connect`
 * included, counts connects and frames). The HTTP API's is `throttling` in stacks/http-api-stack.ts.
 * Generous next to the traffic we expect (a ping per idle connection every few minutes, typing
 * frames at most one per user and conversation per 2 s) and well inside the account's API Gateway
 * quota of 10,000 requests per second (and 500 new connections per second) per region.
 */
export const webSocketThrottling = { burst: 1000, rate: 500 } as const;

type Context = (key: string) => unknown;

export function stageConfig(context: Context, env: NodeJS.ProcessEnv = process.env): StageConfig {
  const stage = String(context('stage') ?? 'dev');
  if (stage !== 'dev' && stage !== 'prod') throw new Error(`stage must be dev or prod, got ${stage}`);
  const prod = stage === 'prod';
  const text = (key: string) => (context(key) === undefined || context(key) === '' ? undefined : String(context(key)));
  const list = (value: unknown) =>
    (Array.isArray(value) ? value.map(String) : String(value ?? '').split(',')).map((s) => s.trim()).filter(Boolean);
  const orderBusName = text('orderBusName');
  if (prod && !orderBusName) throw new Error('prod needs -c orderBusName=<the order service event bus>');
  const sesFromEmail = text('sesFromEmail');
  if (prod && !sesFromEmail)
    throw new Error('prod needs -c sesFromEmail=<a verified SES identity> (Cognito email goes through SES in prod)');
  const ses = sesFromEmail
    ? {
        fromEmail: sesFromEmail,
        fromName: text('sesFromName'),
        verifiedDomain: text('sesVerifiedDomain'),
        configurationSet: text('sesConfigurationSet'),
      }
    : undefined;
  return {
    stage,
    ...deploymentEnvironment(stage, context, env),
    orderBusName,
    orderEventSource: text('orderEventSource') ?? 'order-service',
    corsOrigins: list(context('corsOrigins') ?? (prod ? '' : 'http://localhost:3000')),
    alarmEmail: text('alarmEmail'),
    ...functionSettingsOf(context),
    keepData: prod,
    terminationProtection: prod,
    minCapacity: prod ? 0.5 : 0,
    maxCapacity: prod ? 16 : 2,
    ses,
    email: emailOf(text, ses),
  };
}

/** The digests' sender: see StageConfig.email. */
function emailOf(text: (key: string) => string | undefined, ses: StageConfig['ses']): StageConfig['email'] {
  const domain = (
    text('emailDomain') ??
    ses?.verifiedDomain ??
    ses?.fromEmail.split('@').pop() ??
    'example.com'
  ).toLowerCase();
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain))
    throw new Error(`-c emailDomain: ${domain} is not a domain name`);
  const from = text('emailFrom') ?? `notifications@${domain}`;
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from;
  if (!address.toLowerCase().endsWith(`@${domain}`))
    throw new Error(`-c emailFrom: ${from} is not an address at the SES identity ${domain}`);
  const exists = text('emailIdentityExists');
  if (exists !== undefined && exists !== 'true' && exists !== 'false')
    throw new Error(`-c emailIdentityExists must be true or false, got ${exists}`);
  return {
    domain,
    from,
    createIdentity: exists === undefined ? domain !== ses?.verifiedDomain?.toLowerCase() : exists === 'false',
  };
}

/**
 * Context keys that become function environment variables, and the variable each becomes. Their
 * values are checked at synth by the schema the functions parse at cold start (lib/config.ts), so
 * a bad value fails `cdk synth` naming the key instead of every cold start naming the variable;
 * an unset key takes the schema's default (lib/messaging/limits.ts's, for the limits).
 */
const functionSettingKeys = {
  sendRateLimit: 'SEND_RATE_LIMIT',
  sendRateWindowSeconds: 'SEND_RATE_WINDOW_SECONDS',
  createConversationRateLimit: 'CREATE_CONVERSATION_RATE_LIMIT',
  createConversationRateWindowSeconds: 'CREATE_CONVERSATION_RATE_WINDOW_SECONDS',
  addParticipantRateLimit: 'ADD_PARTICIPANT_RATE_LIMIT',
  addParticipantRateWindowSeconds: 'ADD_PARTICIPANT_RATE_WINDOW_SECONDS',
  attachmentRateLimit: 'ATTACHMENT_RATE_LIMIT',
  attachmentRateWindowSeconds: 'ATTACHMENT_RATE_WINDOW_SECONDS',
  attachmentMaxBytes: 'ATTACHMENT_MAX_BYTES',
  attachmentContentTypes: 'ATTACHMENT_CONTENT_TYPES',
  attachmentUploadExpirySeconds: 'ATTACHMENT_UPLOAD_EXPIRY_SECONDS',
  attachmentDownloadExpirySeconds: 'ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS',
  notifyDelaySeconds: 'NOTIFY_DELAY_SECONDS',
  notifyBatch: 'NOTIFY_BATCH',
  eventSource: 'EVENT_SOURCE',
  outgoingEventBus: 'OUTGOING_EVENT_BUS',
} as const satisfies Partial<Record<keyof StageConfig, keyof FunctionEnvironment>>;

function functionSettingsOf(context: Context): Pick<StageConfig, keyof typeof functionSettingKeys> {
  const input = Object.fromEntries(
    Object.entries(functionSettingKeys).flatMap(([key, variable]) => {
      const value = context(key);
      return value === undefined ? [] : [[variable, Array.isArray(value) ? value.join(',') : String(value)]];
    }),
  );
  const parsed = functionEnvironmentSchema.safeParse(input);
  if (!parsed.success) {
    const keyOf = (variable: unknown) =>
      Object.entries(functionSettingKeys).find(([, v]) => v === variable)?.[0] ?? String(variable);
    const problems = parsed.error.issues.map((issue) => `-c ${keyOf(issue.path[0])}: ${issue.message}`);
    throw new Error(`Invalid stage configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    sendRateLimit: e.SEND_RATE_LIMIT,
    sendRateWindowSeconds: e.SEND_RATE_WINDOW_SECONDS,
    createConversationRateLimit: e.CREATE_CONVERSATION_RATE_LIMIT,
    createConversationRateWindowSeconds: e.CREATE_CONVERSATION_RATE_WINDOW_SECONDS,
    addParticipantRateLimit: e.ADD_PARTICIPANT_RATE_LIMIT,
    addParticipantRateWindowSeconds: e.ADD_PARTICIPANT_RATE_WINDOW_SECONDS,
    attachmentRateLimit: e.ATTACHMENT_RATE_LIMIT,
    attachmentRateWindowSeconds: e.ATTACHMENT_RATE_WINDOW_SECONDS,
    attachmentMaxBytes: e.ATTACHMENT_MAX_BYTES,
    attachmentContentTypes: e.ATTACHMENT_CONTENT_TYPES,
    attachmentUploadExpirySeconds: e.ATTACHMENT_UPLOAD_EXPIRY_SECONDS,
    attachmentDownloadExpirySeconds: e.ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS,
    notifyDelaySeconds: e.NOTIFY_DELAY_SECONDS,
    notifyBatch: e.NOTIFY_BATCH,
    eventSource: e.EVENT_SOURCE,
    outgoingEventBus: e.OUTGOING_EVENT_BUS,
  };
}

/**
 * The account and region, from `-c account=… -c region=…`, else CDK_DEPLOY_ACCOUNT/REGION, else the
 * standard AWS_REGION / AWS_DEFAULT_REGION (and the CLI's CDK_DEFAULT_ACCOUNT, which comes from the
 * credentials). Never CDK_DEFAULT_REGION: the CLI fills it with us-east-1 when nothing says a region,
 * and a stack silently in the wrong region is the failure this prevents. prod needs both; dev with
 * credentials but no explicit region fails too; dev with neither synthesises environment-agnostic
 * stacks (the offline `npm run synth`).
 */
export function deploymentEnvironment(
  stage: string,
  context: Context,
  env: NodeJS.ProcessEnv,
): { account?: string; region?: string } {
  const first = (...values: unknown[]) => values.find((v): v is string => typeof v === 'string' && v !== '');
  const account = first(context('account'), env.CDK_DEPLOY_ACCOUNT, env.CDK_DEFAULT_ACCOUNT);
  const region = first(context('region'), env.CDK_DEPLOY_REGION, env.AWS_REGION, env.AWS_DEFAULT_REGION);
  if (stage === 'prod' && (!account || !region)) {
    throw new Error(
      'prod needs an explicit account and region: -c account=<id> -c region=<region> (or CDK_DEPLOY_ACCOUNT / AWS_REGION)',
    );
  }
  if (account && !region) {
    throw new Error(
      `No region given for account ${account}: pass -c region=<region> or set AWS_REGION (the CLI's us-east-1 fallback is not used)`,
    );
  }
  return { account, region };
}
