import { join } from 'node:path';
import { ArnFormat, type Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { type FunctionEnvironmentValues, functionEnvironment } from '../config';
import {
  builtinAliases,
  esbuildTarget,
  esmRequireBanner,
  externalModules,
  functionEntry,
  projectRoot,
  sourceMapPathsScript,
} from './bundling';
import {
  attachmentKeyPrefix,
  attachmentsBucketName,
  functionName,
  outboxRelayFunctionName,
  unsubscribeKeySecretName,
} from './names';

/**
 * What a function may touch. A binding adds its grants and environment to the one function it is
 * bound to, and nothing else does: a function without the database binding cannot reach the
 * database. Later bindings (SES) implement the same interface.
 */
export interface FunctionBinding {
  bind(fn: MessagingFunction): void;
}

/**
 * The Aurora Data API on one cluster, as the user in one secret. Runtime functions get the
 * application role's secret; only the migration gets the admin secret.
 *
 * Not `cluster.grantDataApiAccess`: that also grants read on the cluster's master secret.
 */
export class DatabaseBinding implements FunctionBinding {
  constructor(
    private readonly database: { clusterArn: string; secret: secretsmanager.ISecret; databaseName: string },
    private readonly options: { resumeRetryMs?: number } = {},
  ) {}

  bind(fn: MessagingFunction): void {
    fn.addEnvironmentOf({
      DB_CLUSTER_ARN: this.database.clusterArn,
      DB_SECRET_ARN: this.database.secret.secretArn,
      DB_NAME: this.database.databaseName,
      // Within API Gateway's 30 s by default: retry a resuming cluster for up to 15 s, then answer 503.
      DB_RESUME_RETRY_MS: this.options.resumeRetryMs ?? 15_000,
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'rds-data:BatchExecuteStatement',
          'rds-data:BeginTransaction',
          'rds-data:CommitTransaction',
          'rds-data:ExecuteStatement',
          'rds-data:RollbackTransaction',
        ],
        resources: [this.database.clusterArn],
      }),
    );
    this.database.secret.grantRead(fn);
  }
}

/** Settings only: environment variables, no grant. */
export class EnvironmentBinding implements FunctionBinding {
  constructor(private readonly variables: FunctionEnvironmentValues) {}

  bind(fn: MessagingFunction): void {
    fn.addEnvironmentOf(this.variables);
  }
}

/** Read access to one more secret, named by an environment variable (the migration reads the app role's). */
export class SecretBinding implements FunctionBinding {
  constructor(
    private readonly variable: keyof FunctionEnvironmentValues,
    private readonly secret: secretsmanager.ISecret,
  ) {}

  bind(fn: MessagingFunction): void {
    fn.addEnvironmentOf({ [this.variable]: this.secret.secretArn });
    this.secret.grantRead(fn);
  }
}

/**
 * PostToConnection on one WebSocket API stage: the management endpoint in
 * WEBSOCKET_MANAGEMENT_ENDPOINT and `execute-api:ManageConnections` on
 * `{api}/{stage}/POST/@connections/*` of that stage alone (the functions only POST; a connection
 * API Gateway calls gone is deleted from the registry by the domain, not through @connections).
 *
 * Bound to the HTTP routes and WebSocket routes whose `bindings` name `connections`, and to the
 * order-event functions. The functions it was bound to are listed, so the cdk-nag acknowledgement
 * of the connection-id wildcard applies to them alone.
 */
export class ConnectionsBinding implements FunctionBinding {
  readonly bound: MessagingFunction[] = [];

  constructor(private readonly stage: apigw.IWebSocketStage) {}

  /** The ARN the grant names, as the bound function's stack spells it. */
  static connectionsArn(scope: Stack, apiId: string, stageName: string): string {
    return scope.formatArn({
      service: 'execute-api',
      resource: apiId,
      resourceName: `${stageName}/POST/@connections/*`,
    });
  }

  bind(fn: MessagingFunction): void {
    fn.addEnvironmentOf({ WEBSOCKET_MANAGEMENT_ENDPOINT: this.stage.callbackUrl });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['execute-api:ManageConnections'],
        resources: [ConnectionsBinding.connectionsArn(Stack.of(fn), this.stage.api.apiId, this.stage.stageName)],
      }),
    );
    this.bound.push(fn);
  }
}

/**
 * What a function may do in the attachments bucket: each binding holds exactly the actions its
 * functions need. The object actions apply to `attachments/*` alone; ListBucket (to the bucket
 * itself) only decides whether a read of a missing key answers 404 rather than 403.
 */
export type AttachmentAction = 's3:PutObject' | 's3:GetObject' | 's3:DeleteObject' | 's3:ListBucket';

/**
 * The given actions on this stage's attachments bucket, and ATTACHMENTS_BUCKET with the settings
 * its functions read. One instance per kind of access: uploads (PutObject, to presign PUTs),
 * downloads (GetObject, to presign GETs), removal (DeleteObject; S3's DeleteObjects needs it per
 * key), and the attachments stack's own check and sweep. A presigned request carries its signer's
 * rights, so a presigning function holds the one action it signs for and nothing else. Every key
 * comes from the database, so nobody lists the bucket: ListBucket is given only where a missing
 * object must be told from a refused read (the check, which S3 may notify twice of an object it
 * has since deleted).
 *
 * The bucket is named by its fixed name (names.ts), formed in the bound function's stack, so no
 * cross-stack reference exists: app.ts orders the stacks instead. The functions it was bound to are
 * listed, so the cdk-nag acknowledgement of the `attachments/*` wildcard applies to them alone.
 */
export class AttachmentsBinding implements FunctionBinding {
  readonly bound: MessagingFunction[] = [];

  constructor(
    private readonly stage: string,
    readonly actions: readonly AttachmentAction[],
    private readonly settings: FunctionEnvironmentValues = {},
  ) {
    if (actions.length === 0) throw new Error('An attachments binding needs at least one action');
  }

  /** The bucket's name, as the given stack spells it (its account and region). */
  static bucketName(scope: Stack, stage: string): string {
    return attachmentsBucketName(stage, scope.account, scope.region);
  }

  /** The bucket's ARN (what ListBucket names), as the given stack spells it. */
  static bucketArn(scope: Stack, stage: string): string {
    return scope.formatArn({
      service: 's3',
      region: '',
      account: '',
      resource: AttachmentsBinding.bucketName(scope, stage),
    });
  }

  /** The attachment objects' ARN (what the object actions name): not the bucket, not its other keys. */
  static objectsArn(scope: Stack, stage: string): string {
    return `${AttachmentsBinding.bucketArn(scope, stage)}/${attachmentKeyPrefix}*`;
  }

  bind(fn: MessagingFunction): void {
    const stack = Stack.of(fn);
    fn.addEnvironmentOf({ ATTACHMENTS_BUCKET: AttachmentsBinding.bucketName(stack, this.stage), ...this.settings });
    const onObjects = this.actions.filter((action) => action !== 's3:ListBucket');
    if (onObjects.length)
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: onObjects, resources: [AttachmentsBinding.objectsArn(stack, this.stage)] }),
      );
    if (this.actions.includes('s3:ListBucket'))
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [AttachmentsBinding.bucketArn(stack, this.stage)],
        }),
      );
    this.bound.push(fn);
  }
}

/**
 * Invoking the outbox relay (asynchronously: the function calls it with `InvocationType: Event`
 * after a write that queued domain events): OUTBOX_RELAY_FUNCTION and `lambda:InvokeFunction` on
 * that one function, unqualified. Bound to the HTTP routes whose bindings name `outboxRelay` and to
 * the order-event functions.
 *
 * The relay is named by its fixed name (names.ts), formed in the bound function's stack, so no
 * cross-stack reference exists: the writers' stacks deploy before the Notifications stack that
 * holds the relay. Until it exists (the first deploy, for a minute or two) a nudge fails, which the
 * writer ignores: the events wait in the outbox for the relay's every-minute schedule.
 */
export class OutboxRelayBinding implements FunctionBinding {
  readonly bound: MessagingFunction[] = [];

  constructor(private readonly stage: string) {}

  /** The relay's ARN, as the given stack spells it (its account and region). */
  static relayArn(scope: Stack, stage: string): string {
    return scope.formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: outboxRelayFunctionName(stage),
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  bind(fn: MessagingFunction): void {
    fn.addEnvironmentOf({ OUTBOX_RELAY_FUNCTION: outboxRelayFunctionName(this.stage) });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [OutboxRelayBinding.relayArn(Stack.of(fn), this.stage)],
      }),
    );
    this.bound.push(fn);
  }
}

/**
 * Reading the key that signs unsubscribe links: UNSUBSCRIBE_SECRET_ARN and
 * `secretsmanager:GetSecretValue` on that one secret. Bound to the digest function (which signs
 * the links it emails) and to the unsubscribe route (which verifies them), nothing else.
 *
 * The secret is named by its fixed name (names.ts), not by reference: the unsubscribe route's stack
 * (HttpApi) deploys before the Notifications stack that holds the secret, because the digest
 * function there needs the API's URL. So the variable holds the secret's partial ARN (without the
 * random suffix Secrets Manager appends), which GetSecretValue accepts, and the grant names
 * `<name>-??????`: exactly that secret (a `?` is one character; the suffix is six).
 */
export class UnsubscribeKeyBinding implements FunctionBinding {
  readonly bound: MessagingFunction[] = [];

  constructor(private readonly stage: string) {}

  /** The secret's ARN without its random suffix, as the given stack spells it. */
  static partialArn(scope: Stack, stage: string): string {
    return scope.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: unsubscribeKeySecretName(stage),
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  bind(fn: MessagingFunction): void {
    const arn = UnsubscribeKeyBinding.partialArn(Stack.of(fn), this.stage);
    fn.addEnvironmentOf({ UNSUBSCRIBE_SECRET_ARN: arn });
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [`${arn}-??????`] }),
    );
    this.bound.push(fn);
  }
}

export interface MessagingFunctionProps {
  stage: string;
  /** `functions/<folder>/<name>.ts` exporting `handler`. */
  folder: 'http' | 'events' | 'ops' | 'cognito' | 'ws';
  name: string;
  description: string;
  timeout: Duration;
  bindings: FunctionBinding[];
  removalPolicy: RemovalPolicy;
  memorySize?: number;
}

/**
 * One of our Lambdas: bundled with the project's one esbuild setting, on nodejs24.x/arm64, with a
 * role of its own that may write only to its own log group (instead of the AWS-managed
 * AWSLambdaBasicExecutionRole, which allows any log group), and whatever its bindings add.
 *
 * Its name is fixed (`messaging-<stage>-<name>`), so the dashboard, alarms, runbook and `npm run
 * redrive` can name it without a cross-stack reference.
 */
export class MessagingFunction extends NodejsFunction {
  readonly logicalName: string;
  /** The function's name as a plain string (not a token): usable from any stack. */
  readonly fixedName: string;

  /** Adds environment variables by the names lib/config.ts defines, so a misspelt one fails `tsc`. */
  addEnvironmentOf(values: FunctionEnvironmentValues): void {
    for (const [name, value] of Object.entries(functionEnvironment(values))) this.addEnvironment(name, value);
  }

  constructor(scope: Construct, id: string, props: MessagingFunctionProps) {
    const fixedName = functionName(props.stage, props.name);
    const logGroup = new logs.LogGroup(scope, `${id}-logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    });
    const role = new iam.Role(scope, `${id}-role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    super(scope, id, {
      functionName: fixedName,
      entry: functionEntry(props.folder, props.name),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      environment: {
        // Business metrics are EMF on info lines (functions/commons/logger.ts): keep info.
        ...functionEnvironment({ LOG_LEVEL: 'info', STAGE: props.stage }),
        // Node's own, not ours.
        NODE_OPTIONS: '--enable-source-maps',
      },
      logGroup,
      role,
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: esbuildTarget,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        externalModules,
        banner: esmRequireBanner,
        esbuildArgs: { '--alias': Object.entries(builtinAliases).map(([from, to]) => `${from}=${to}`) },
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `node "${sourceMapPathsScript}" "${outputDir}" "${projectRoot}"`,
          ],
        },
      },
    });
    this.logicalName = props.name;
    this.fixedName = fixedName;
    for (const binding of props.bindings) binding.bind(this);
  }
}
