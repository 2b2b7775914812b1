import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as triggers from 'aws-cdk-lib/triggers';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { eventRuleList } from '../events/order-events';
import { routeKey, routeList } from '../http/routes';
import { esbuildTarget, esmRequireBanner, externalModules, functionEntry, projectRoot } from './bundling';
import type { StageConfig } from './stage-config';


export interface MessagingStackProps extends StackProps {
  config: StageConfig;
}

/**
 * The whole service: Cognito, Aurora Serverless v2 with the Data API, migrations at deploy
 * time, the HTTP API with one Lambda per route of the route table, the order-event rules with
 * one Lambda each, dead-letter queues and alarms.
 */
export class MessagingStack extends Stack {
  readonly httpFunctions = new Map<string, NodejsFunction>();
  readonly eventFunctions = new Map<string, NodejsFunction>();
  readonly functionRoles: iam.Role[] = [];
  readonly deadLetterQueues: sqs.Queue[] = [];
  database!: rds.DatabaseCluster;
  userPool!: cognito.UserPool;

  constructor(scope: Construct, id: string, props: MessagingStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // ---- database -----------------------------------------------------------------------------
    // The Lambdas reach Aurora through the Data API (HTTPS), so the cluster lives in isolated
    // subnets with no route out, and the functions need no VPC.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.REJECT } },
    });
    const cluster = new rds.DatabaseCluster(this, 'Database', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_6 }),
      credentials: rds.Credentials.fromGeneratedSecret('messaging_admin'),
      defaultDatabaseName: 'messaging',
      writer: rds.ClusterInstance.serverlessV2('writer'),
      serverlessV2MinCapacity: config.minCapacity,
      serverlessV2MaxCapacity: config.maxCapacity,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      enableDataApi: true,
      storageEncrypted: true,
      iamAuthentication: true,
      backup: { retention: Duration.days(config.keepData ? 30 : 7) },
      deletionProtection: config.keepData,
      removalPolicy: config.keepData ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      cloudwatchLogsExports: ['postgresql'],
    });

    this.database = cluster;

    const databaseEnvironment = {
      DB_CLUSTER_ARN: cluster.clusterArn,
      DB_SECRET_ARN: cluster.secret!.secretArn,
      DB_NAME: 'messaging',
      // Within API Gateway's 30 s: retry a resuming cluster for up to 15 s, then answer 503.
      DB_RESUME_RETRY_MS: '15000',
      SEND_RATE_LIMIT: String(config.sendRateLimit),
      SEND_RATE_WINDOW_SECONDS: String(config.sendRateWindowSeconds),
      ORDER_EVENT_SOURCE: config.orderEventSource,
      LOG_LEVEL: 'info',
      NODE_OPTIONS: '--enable-source-maps',
    };

    const makeFunction = (folder: string, name: string, description: string, timeout: Duration) => {
      // A role of its own that may write only to the function's own log group (instead of the
      // AWS-managed AWSLambdaBasicExecutionRole, which allows any log group).
      const logGroup = new logs.LogGroup(this, `${folder}-${name}-logs`, { retention: logs.RetentionDays.ONE_MONTH, removalPolicy });
      const role = new iam.Role(this, `${folder}-${name}-role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
      logGroup.grantWrite(role);
      const fn = new NodejsFunction(this, `${folder}-${name}`, {
        entry: functionEntry(folder, name),
        handler: 'handler',
        description,
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: 512,
        timeout,
        environment: databaseEnvironment,
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
        },
      });
      // rds-data:* statement calls on this cluster and GetSecretValue on its secret: nothing wider.
      cluster.grantDataApiAccess(fn);
      this.functionRoles.push(role);
      return fn;
    };

    // ---- Cognito ------------------------------------------------------------------------------
    const postConfirmation = makeFunction('cognito', 'post-confirmation', 'cognito post-confirmation: record the user', Duration.seconds(20));
    const userPool = new cognito.UserPool(this, 'Users', {
      userPoolName: `messaging-${config.stage}`,
      selfSignUpEnabled: true,
      signInAliases: { email: true },
      autoVerify: { email: true },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: config.keepData,
      removalPolicy,
      lambdaTriggers: { postConfirmation },
    });
    this.userPool = userPool;
    const appClient = userPool.addClient('AppClient', {
      authFlows: { userSrp: true },
      // Apps sign in with SRP through the Cognito SDKs; no hosted-UI OAuth flows (and no implicit grant).
      disableOAuth: true,
      generateSecret: false,
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
    });
    ['admin', 'agent', 'service_provider'].forEach((groupName, precedence) => {
      new cognito.CfnUserPoolGroup(this, `Group-${groupName}`, { userPoolId: userPool.userPoolId, groupName, precedence });
    });

    // ---- migrations at deploy time --------------------------------------------------------------
    const migrate = makeFunction('ops', 'migrate', 'ops: run database migrations at deploy', Duration.minutes(5));
    new triggers.Trigger(this, 'MigrateOnDeploy', {
      handler: migrate,
      executeAfter: [cluster],
      executeOnHandlerChange: true,
      timeout: Duration.minutes(10),
    });

    // ---- HTTP API: one Lambda per route of the route table -------------------------------------
    const authorizer = new HttpJwtAuthorizer('Cognito', `https://cognito-idp.${this.region}.amazonaws.com/${userPool.userPoolId}`, {
      jwtAudience: [appClient.userPoolClientId],
      identitySource: ['$request.header.Authorization'],
    });
    const api = new apigw.HttpApi(this, 'Api', {
      apiName: `messaging-${config.stage}`,
      defaultAuthorizer: authorizer,
      corsPreflight: config.corsOrigins.length
        ? {
            allowOrigins: config.corsOrigins,
            allowMethods: [apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST, apigw.CorsHttpMethod.PATCH, apigw.CorsHttpMethod.DELETE],
            allowHeaders: ['authorization', 'content-type'],
            exposeHeaders: ['retry-after'],
            maxAge: Duration.hours(1),
          }
        : undefined,
    });
    const stage = api.defaultStage!.node.defaultChild as apigw.CfnStage;
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy });
    stage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId',
        routeKey: '$context.routeKey',
        status: '$context.status',
        sub: '$context.authorizer.claims.sub',
        latencyMs: '$context.responseLatency',
        integrationError: '$context.integrationErrorMessage',
        authorizerError: '$context.authorizer.error',
        ip: '$context.identity.sourceIp',
      }),
    };
    stage.defaultRouteSettings = { throttlingBurstLimit: 500, throttlingRateLimit: 250 };
    const routeSettings: Record<string, apigw.CfnStage.RouteSettingsProperty> = {};
    for (const route of routeList) {
      const fn = makeFunction('http', route.id, `http ${routeKey(route)}`, Duration.seconds(25));
      this.httpFunctions.set(route.id, fn);
      const [created] = api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${route.id}-integration`, fn),
      });
      // Route settings name routes by key; the stage must come after the routes exist.
      stage.node.addDependency(created!);
      if (route.rateLimit === 'send') {
        // The per-user limit is in the database; this caps the whole API's sending rate.
        routeSettings[routeKey(route)] = { throttlingBurstLimit: 100, throttlingRateLimit: 50 };
      }
    }
    stage.routeSettings = routeSettings;

    // ---- order events -------------------------------------------------------------------------
    const bus = config.orderBusName
      ? events.EventBus.fromEventBusName(this, 'OrderBus', config.orderBusName)
      : new events.EventBus(this, 'OrderBus', { eventBusName: `orders-${config.stage}` });
    const queue = (id: string) =>
      new sqs.Queue(this, id, {
        retentionPeriod: Duration.days(14),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
    // Events EventBridge could not deliver to the Lambda (after its retry policy) ...
    const deliveryDeadLetters = queue('EventDeliveryDeadLetters');
    // ... and events the Lambda received but failed on (malformed, or failing after its retries).
    const processingFailures = queue('EventProcessingFailures');
    this.deadLetterQueues.push(deliveryDeadLetters, processingFailures);
    for (const rule of eventRuleList) {
      const fn = makeFunction('events', rule.id, `event ${config.orderEventSource} ${rule.detailType}`, Duration.seconds(60));
      this.eventFunctions.set(rule.id, fn);
      fn.configureAsyncInvoke({
        onFailure: new destinations.SqsDestination(processingFailures),
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
      });
      new events.Rule(this, `${rule.id}-rule`, {
        eventBus: bus,
        description: `${rule.detailType} from ${config.orderEventSource}`,
        eventPattern: { source: [config.orderEventSource], detailType: [rule.detailType] },
        targets: [new targets.LambdaFunction(fn, { deadLetterQueue: deliveryDeadLetters, retryAttempts: 185, maxEventAge: Duration.hours(24) })],
      });
    }

    // ---- alarms -------------------------------------------------------------------------------
    const alarmTopic = new sns.Topic(this, 'Alarms', {
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    if (config.alarmEmail) alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) =>
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(new cloudwatchActions.SnsAction(alarmTopic));
    alarm('EventDeliveryDeadLettersAlarm', deliveryDeadLetters.metricApproximateNumberOfMessagesVisible(), 'Order events EventBridge could not deliver');
    alarm('EventProcessingFailuresAlarm', processingFailures.metricApproximateNumberOfMessagesVisible(), 'Order events our Lambdas failed on');
    alarm('Api5xxAlarm', api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }), 'The HTTP API answered 5xx');
    for (const [name, fn] of [...this.httpFunctions, ...this.eventFunctions, ['migrate', migrate] as const, ['post-confirmation', postConfirmation] as const]) {
      alarm(`${name}-errors`, fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }), `${name} failed`);
      alarm(`${name}-throttles`, fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }), `${name} was throttled`);
    }

    // ---- outputs ------------------------------------------------------------------------------
    new CfnOutput(this, 'ApiUrl', { value: api.apiEndpoint });
    new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: appClient.userPoolClientId });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
  }
}
