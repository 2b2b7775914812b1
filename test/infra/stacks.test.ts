import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Match } from 'aws-cdk-lib/assertions';
import * as rds from 'aws-cdk-lib/aws-rds';
import { beforeAll, describe, expect, it } from 'vitest';
import { lambdaEnv } from '../../lib/bench/lambdas';
import { businessMetrics } from '../../lib/business-metrics';
import { eventRuleList } from '../../lib/events/order-events';
import { routeKey, routeList, routes } from '../../lib/http/routes';
import type { MessagingStacks } from '../../lib/infra/app';
import { projectRoot } from '../../lib/infra/bundling';
import { attachmentFailureQueueNames, failureQueueNames, notificationFailureQueueNames } from '../../lib/infra/names';
import { auroraEngineVersion } from '../../lib/infra/stacks/data-stack';
import { webSocketAuthorizer, webSocketRouteList } from '../../lib/realtime/routes';
import {
  eventPatternFields,
  policyDocumentProperties,
  policyStatementProperties,
  rawJsonProperties,
  stageRouteSettingsProperties,
} from './cloudformation-raw-json';
import { prodContext as baseProdContext, type Synthesized, synthesize } from './synth';

/**
 * The CloudFormation the CDK app synthesises, offline, for dev and prod, checked for what we mean
 * by it. Each stage is synthesised once (bundling every Lambda with esbuild, as `cdk deploy`
 * would), into output directories of different depths, which is also what the asset-hash test needs.
 */
const synth = (context: Record<string, unknown>, outdir: string) =>
  synthesize(context, { outdir, bundling: true, env: process.env });

let dev: Synthesized;
let prod: Synthesized;
const prodContext = {
  ...baseProdContext,
  sesVerifiedDomain: 'example.com',
  alarmEmail: 'ops@example.com',
  // What `cdk synth` with credentials looks up once and keeps in cdk.context.json.
  'availability-zones:account=111111111111:region=eu-west-1': ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
};

beforeAll(() => {
  const base = mkdtempSync(join(tmpdir(), 'messaging-cdk-'));
  dev = synth({ stage: 'dev' }, join(base, 'dev'));
  const deeper = join(base, 'prod', 'one', 'level', 'deeper');
  mkdirSync(deeper, { recursive: true });
  prod = synth(prodContext, deeper);
}, 240_000);

const ofType = (s: Synthesized, type: string) =>
  Object.values(s.templates).flatMap((resources) => Object.entries(resources).filter(([, r]) => r.Type === type));
const functionsOf = (s: Synthesized) =>
  ofType(s, 'AWS::Lambda::Function').filter(([, r]) => /^messaging-/.test(r.Properties.FunctionName ?? ''));
const fnNamed = (s: Synthesized, name: string) =>
  functionsOf(s).find(([, r]) => r.Properties.FunctionName === `messaging-${s === dev ? 'dev' : 'prod'}-${name}`)!;
const json = (value: unknown) => JSON.stringify(value);
const allFailureQueues = (stage: string) => [
  ...Object.values(failureQueueNames(stage)),
  ...Object.values(attachmentFailureQueueNames(stage)),
  ...Object.values(notificationFailureQueueNames(stage)),
];
/** The functions of the Notifications stack (not of a route table or an event rule). */
const notificationFunctions = ['send-digests', 'relay-outbox', 'on-email-feedback'];

describe('stacks by concern, within CloudFormation limits', () => {
  it('prints and bounds every stack, now and with every planned feature', () => {
    const counts = Object.fromEntries(
      Object.entries(dev.templates).map(([key, resources]) => [key, Object.keys(resources).length]),
    );
    // What one more function costs, measured here: a route function brings its function, role,
    // policy, log group, permission, route and integration; every function brings two alarms.
    const http = dev.templates.httpApi;
    const perRoute =
      Object.values(http).filter((r) =>
        [
          'AWS::Lambda::Function',
          'AWS::IAM::Role',
          'AWS::IAM::Policy',
          'AWS::Lambda::Permission',
          'AWS::ApiGatewayV2::Route',
          'AWS::ApiGatewayV2::Integration',
        ].includes(r.Type),
      ).length /
        routeList.length +
      1; // + its log group
    const perFunction = perRoute; // a WebSocket route or an event rule costs the same: function, role, policy, logs, permission, route/rule, integration/invoke config
    const alarmsPerFunction = 2;
    // The roadmap's ~5 more functions: the WebSocket API's subscribe and stale-connection cleanup,
    // push notifications (a sender and its device-token routes). Attachments (its 2 routes here,
    // its check and sweep) and notifications (profile, mute and unsubscribe routes here; digests,
    // outbox relay and SES feedback there) exist.
    const planned: Record<string, number> = {
      data: counts.data!,
      auth: counts.auth!,
      attachments: counts.attachments!,
      httpApi: counts.httpApi! + 2 * perRoute,
      events: counts.events!,
      observability: counts.observability! + 5 * alarmsPerFunction,
      webSocket: counts.webSocket! + 2 * perFunction,
      notifications: counts.notifications! + perFunction,
    };
    console.log(
      `resources per stack now: ${json(counts)}\nestimated with every planned feature: ${json(planned)} (${perRoute} per function)`,
    );
    expect(Object.keys(counts).sort()).toEqual([
      'attachments',
      'auth',
      'data',
      'events',
      'httpApi',
      'notifications',
      'observability',
      'webSocket',
    ]);
    for (const count of [...Object.values(counts), ...Object.values(planned)]) expect(count).toBeLessThanOrEqual(250);
    expect(perRoute).toBe(7);
  });

  it('names the stacks per stage and protects prod stacks from deletion', () => {
    expect(
      Object.values(dev.stacks)
        .map((s) => s.stackName)
        .sort(),
    ).toEqual([
      'Messaging-dev-Attachments',
      'Messaging-dev-Auth',
      'Messaging-dev-Data',
      'Messaging-dev-Events',
      'Messaging-dev-HttpApi',
      'Messaging-dev-Notifications',
      'Messaging-dev-Observability',
      'Messaging-dev-WebSocket',
    ]);
    for (const stack of Object.values(prod.stacks)) expect(stack.terminationProtection).toBe(true);
    for (const stack of Object.values(dev.stacks)) expect(stack.terminationProtection).toBe(false);
  });
});

describe('no traffic before the migration (defect 3)', () => {
  it('runs the migration in the Data stack after the cluster, its writer and the app secret exist', () => {
    const data = dev.templates.data;
    const triggers = Object.values(data).filter((r) => r.Type === 'Custom::Trigger');
    expect(triggers).toHaveLength(1);
    const typeOf = (id: string) => data[id]?.Type;
    const after = triggers[0]!.DependsOn!.map(typeOf);
    expect(after).toEqual(
      expect.arrayContaining([
        'AWS::RDS::DBCluster',
        'AWS::RDS::DBInstance',
        'AWS::SecretsManager::SecretTargetAttachment',
      ]),
    );
    // The Data stack holds no consumer: its only function of ours is the migration.
    expect(
      functionsOf(dev)
        .filter(([id]) => id in data)
        .map(([, r]) => r.Properties.FunctionName),
    ).toEqual(['messaging-dev-migrate']);
  });

  it('makes every stack with a function, route or rule depend on the Data stack, so CloudFormation waits for the migration', () => {
    const { dependencies } = dev;
    for (const consumer of [
      'Messaging-dev-Auth',
      'Messaging-dev-Attachments',
      'Messaging-dev-WebSocket',
      'Messaging-dev-HttpApi',
      'Messaging-dev-Events',
      'Messaging-dev-Notifications',
    ]) {
      expect(dependencies(consumer)).toContain('Messaging-dev-Data');
    }
    expect(dependencies('Messaging-dev-Observability')).toEqual(
      expect.arrayContaining([
        'Messaging-dev-Data',
        'Messaging-dev-Auth',
        'Messaging-dev-Attachments',
        'Messaging-dev-WebSocket',
        'Messaging-dev-HttpApi',
        'Messaging-dev-Events',
        'Messaging-dev-Notifications',
      ]),
    );
    // Every consumer lives in such a stack.
    for (const key of ['auth', 'attachments', 'webSocket', 'httpApi', 'events', 'notifications'] as const) {
      const types = Object.values(dev.templates[key]).map((r) => r.Type);
      expect(
        types.some((t) => ['AWS::Lambda::Function', 'AWS::ApiGatewayV2::Route', 'AWS::Events::Rule'].includes(t)),
      ).toBe(true);
    }
  });
});

describe('functions and their bindings', () => {
  it('makes one Lambda per route of the route tables and per event rule, on nodejs24.x arm64 ESM', () => {
    const names = functionsOf(dev)
      .map(([, r]) => r.Properties.FunctionName)
      .sort();
    expect(names).toEqual(
      [
        ...routeList.map((r) => r.id),
        ...webSocketRouteList.map((r) => r.id),
        webSocketAuthorizer.id,
        ...eventRuleList.map((r) => r.id),
        'migrate',
        'post-confirmation',
        'on-attachment-uploaded',
        'sweep-attachments',
        ...notificationFunctions,
      ]
        .map((n) => `messaging-dev-${n}`)
        .sort(),
    );
    for (const [, fn] of functionsOf(dev)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
      });
      expect(fn.Properties.Environment.Variables).toMatchObject({
        LOG_LEVEL: 'info',
        STAGE: 'dev',
        NODE_OPTIONS: '--enable-source-maps',
      });
    }
    const routesOn = (key: keyof MessagingStacks) =>
      Object.values(dev.templates[key])
        .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
        .map((r) => r.Properties.RouteKey)
        .sort();
    expect(routesOn('httpApi')).toEqual(routeList.map(routeKey).sort());
    expect(routesOn('webSocket')).toEqual(webSocketRouteList.map((r) => r.routeKey).sort());
  });

  it('gives each function the environment of its bindings only', () => {
    const env = (name: string) => Object.keys(fnNamed(dev, name)[1].Properties.Environment.Variables).sort();
    const base = ['LOG_LEVEL', 'NODE_OPTIONS', 'STAGE'];
    const database = ['DB_CLUSTER_ARN', 'DB_NAME', 'DB_RESUME_RETRY_MS', 'DB_SECRET_ARN'];
    const connections = ['WEBSOCKET_MANAGEMENT_ENDPOINT'];
    const outboxRelay = ['OUTBOX_RELAY_FUNCTION'];
    expect(routes.sendMessage.bindings).toEqual(['database', 'sendRate', 'connections', 'outboxRelay']);
    expect(env('send-message')).toEqual(
      [...base, ...database, 'SEND_RATE_LIMIT', 'SEND_RATE_WINDOW_SECONDS', ...connections, ...outboxRelay].sort(),
    );
    expect(env('create-conversation')).toEqual(
      [
        ...base,
        ...database,
        'CREATE_CONVERSATION_RATE_LIMIT',
        'CREATE_CONVERSATION_RATE_WINDOW_SECONDS',
        ...connections,
        ...outboxRelay,
      ].sort(),
    );
    expect(env('add-participant')).toEqual(
      [
        ...base,
        ...database,
        'ADD_PARTICIPANT_RATE_LIMIT',
        'ADD_PARTICIPANT_RATE_WINDOW_SECONDS',
        ...connections,
        ...outboxRelay,
      ].sort(),
    );
    expect(env('list-conversations')).toEqual([...base, ...database].sort());
    // What each attachments binding hands its functions (test/infra/attachments-stack.test.ts checks the values).
    const attachments: Record<string, string[]> = {
      attachmentUploads: [
        'ATTACHMENTS_BUCKET',
        'ATTACHMENT_CONTENT_TYPES',
        'ATTACHMENT_MAX_BYTES',
        'ATTACHMENT_RATE_LIMIT',
        'ATTACHMENT_RATE_WINDOW_SECONDS',
        'ATTACHMENT_UPLOAD_EXPIRY_SECONDS',
      ],
      attachmentDownloads: ['ATTACHMENTS_BUCKET', 'ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS'],
      attachmentRemoval: ['ATTACHMENTS_BUCKET'],
      outboxRelay,
      unsubscribeKey: ['UNSUBSCRIBE_SECRET_ARN'],
    };
    const limited: unknown[] = [routes.sendMessage, routes.createConversation, routes.addParticipant];
    for (const route of [...routeList, ...webSocketRouteList].filter((r) => !limited.includes(r)))
      expect(env(route.id), route.id).toEqual(
        [
          ...base,
          ...(route.bindings.includes('database') ? database : []),
          ...(route.bindings.includes('connections') ? connections : []),
          ...route.bindings.flatMap((binding) => attachments[binding] ?? []),
        ].sort(),
      );
    expect(env('on-attachment-uploaded')).toEqual(
      [...base, ...database, 'ATTACHMENTS_BUCKET', 'ATTACHMENT_CONTENT_TYPES', 'ATTACHMENT_MAX_BYTES'].sort(),
    );
    expect(env('sweep-attachments')).toEqual([...base, ...database, 'ATTACHMENTS_BUCKET'].sort());
    expect(env('ws-authorize')).toEqual([...base, 'AUTH_CLIENT_IDS', 'AUTH_ISSUER'].sort());
    for (const rule of eventRuleList)
      expect(env(rule.id)).toEqual([...base, ...database, 'ORDER_EVENT_SOURCE', ...connections, ...outboxRelay].sort());
    expect(env('send-digests')).toEqual(
      [
        ...base,
        ...database,
        'UNSUBSCRIBE_SECRET_ARN',
        'EMAIL_FROM',
        'SES_CONFIGURATION_SET',
        'PUBLIC_API_URL',
        'NOTIFY_DELAY_SECONDS',
        'NOTIFY_BATCH',
      ].sort(),
    );
    expect(env('relay-outbox')).toEqual([...base, ...database, 'EVENT_SOURCE', 'OUTGOING_EVENT_BUS'].sort());
    expect(env('on-email-feedback')).toEqual([...base, ...database].sort());
    expect(env('migrate')).toEqual([...base, ...database, 'APP_DB_SECRET_ARN'].sort());
  });

  it('connects runtime functions as the application role; only the migration holds the admin secret (defect 4)', () => {
    const data = dev.templates.data;
    const masterSecret = Object.entries(data).find(
      ([, r]) => r.Type === 'AWS::SecretsManager::Secret' && json(r.Properties).includes('messaging_admin'),
    )![0];
    const appSecret = Object.entries(data).find(
      ([, r]) => r.Type === 'AWS::SecretsManager::Secret' && json(r.Properties).includes('messaging_app'),
    )!;
    expect(JSON.parse(appSecret[1].Properties.GenerateSecretString.SecretStringTemplate)).toEqual({
      username: 'messaging_app',
      dbname: 'messaging',
    });
    const migrate = fnNamed(dev, 'migrate')[1];
    expect(json(migrate.Properties.Environment.Variables.DB_SECRET_ARN)).toContain('"DatabaseSecretAttachment');
    expect(json(migrate.Properties.Environment.Variables.APP_DB_SECRET_ARN)).toContain('AppDatabaseSecretAttachment');
    const withoutDatabase = functionsOf(dev)
      .filter(([, r]) => r.Properties.Environment.Variables.DB_SECRET_ARN === undefined)
      .map(([, r]) => r.Properties.FunctionName)
      .sort();
    expect(withoutDatabase).toEqual(
      [
        'ws-authorize',
        ...webSocketRouteList.filter((r) => !r.bindings.includes('database')).map((r) => r.id),
        ...routeList.filter((r) => !(r.bindings as readonly string[]).includes('database')).map((r) => r.id),
      ]
        .map((n) => `messaging-dev-${n}`)
        .sort(),
    );
    for (const [, fn] of functionsOf(dev).filter(
      ([, r]) =>
        r.Properties.FunctionName !== 'messaging-dev-migrate' && !withoutDatabase.includes(r.Properties.FunctionName),
    )) {
      expect(json(fn.Properties.Environment.Variables.DB_SECRET_ARN)).toContain('AppDatabaseSecretAttachment');
    }
    // Which policies may read the master secret: the migration's alone.
    const readers = ofType(dev, 'AWS::IAM::Policy')
      .filter(
        ([, p]) =>
          json(p.Properties.PolicyDocument).includes(masterSecret) ||
          json(p.Properties.PolicyDocument).includes('"DatabaseSecretAttachment'),
      )
      .map(([, p]) => json(p.Properties.Roles));
    expect(readers).toHaveLength(1);
    expect(readers[0]).toContain('opsmigraterole');
  });

  it('grants no IAM statement with a wildcard action or resource, outside what CDK itself needs', () => {
    const wildcards: string[] = [];
    for (const [id, policy] of ofType(dev, 'AWS::IAM::Policy')) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        const actions = [statement.Action].flat();
        const wild =
          actions.some((a: unknown) => typeof a === 'string' && (a === '*' || a.endsWith(':*'))) ||
          [statement.Resource].flat().some((r: unknown) => r === '*');
        if (wild) wildcards.push(`${id}: ${json(statement.Action)} on ${json(statement.Resource)}`);
      }
    }
    // The only wildcard is CDK's own trigger provider being allowed to invoke the migration function's versions.
    expect(wildcards.filter((w) => !w.startsWith('AWSCDKTriggerCustomResourceProvider'))).toEqual([]);
    const managed = ofType(dev, 'AWS::IAM::Role')
      .filter(([id]) => !id.startsWith('AWSCDK') && !id.startsWith('CustomVpcRestrictDefaultSG'))
      .flatMap(([id, r]) => (r.Properties.ManagedPolicyArns ?? []).map((arn: unknown) => `${id}: ${json(arn)}`));
    expect(managed).toEqual([]);
  });
});

describe('alarms that reach people (defect 1)', () => {
  it('encrypts the alarm topic with a customer-managed key CloudWatch may use, for this account only', () => {
    const resources = dev.templates.observability;
    const [keyId, key] = Object.entries(resources).find(([, r]) => r.Type === 'AWS::KMS::Key')!;
    const topic = Object.values(resources).find((r) => r.Type === 'AWS::SNS::Topic')!;
    expect(topic.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(json(resources)).not.toContain('alias/aws/sns');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const forCloudWatch = key.Properties.KeyPolicy.Statement.find(
      (s: any) => s.Principal?.Service === 'cloudwatch.amazonaws.com',
    );
    expect(forCloudWatch).toMatchObject({
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Condition: {
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: { 'aws:SourceArn': expect.anything() },
      },
    });
  });

  it('lets CloudWatch alarms of this account publish to the topic, over TLS only', () => {
    const resources = dev.templates.observability;
    const policy = Object.values(resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')!;
    const statements = policy.Properties.PolicyDocument.Statement;
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Condition: {
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            ArnLike: { 'aws:SourceArn': expect.anything() },
          },
        }),
      ]),
    );
    // Every alarm is named under the prefix the conditions allow, and notifies the topic.
    const allowed = json(statements.find((s: any) => s.Effect === 'Allow').Condition.ArnLike['aws:SourceArn']);
    expect(allowed).toContain(':alarm:messaging-dev-*');
    const [topicId] = Object.entries(resources).find(([, r]) => r.Type === 'AWS::SNS::Topic')!;
    const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmName).toMatch(/^messaging-dev-/);
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    }
    prod.assertions.observability.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('alarms on every failure queue, every function, API 5xx, an unavailable database and SES reputation', () => {
    const alarms = ofType(dev, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const on = (namespace: string, metric: string) =>
      alarms.filter((a) => a.Namespace === namespace && a.MetricName === metric);
    expect(
      on('AWS/SQS', 'ApproximateNumberOfMessagesVisible')
        .map((a) => a.Dimensions[0].Value)
        .sort(),
    ).toEqual(allFailureQueues('dev').sort());
    expect(on('AWS/ApiGateway', '5xx')).toHaveLength(1);
    expect(on('Messaging', businessMetrics.databaseUnavailable)).toHaveLength(1);
    // SES reputation is the account's (per region): no dimension.
    expect(on('AWS/SES', 'Reputation.BounceRate').map((a) => [a.Threshold, a.Dimensions])).toEqual([[0.04, undefined]]);
    expect(on('AWS/SES', 'Reputation.ComplaintRate').map((a) => [a.Threshold, a.Dimensions])).toEqual([
      [0.0008, undefined],
    ]);
    const functions = functionsOf(dev)
      .map(([, r]) => r.Properties.FunctionName)
      .sort();
    expect(
      on('AWS/Lambda', 'Errors')
        .map((a) => a.Dimensions[0].Value)
        .sort(),
    ).toEqual(functions);
    expect(
      on('AWS/Lambda', 'Throttles')
        .map((a) => a.Dimensions[0].Value)
        .sort(),
    ).toEqual(functions);
  });
});

describe('CORS', () => {
  it('allows every method of the route table, as the local stack does', () => {
    const api = Object.values(dev.templates.httpApi).find((r) => r.Type === 'AWS::ApiGatewayV2::Api')!;
    expect([...api.Properties.CorsConfiguration.AllowMethods].sort()).toEqual([
      'DELETE',
      'GET',
      'PATCH',
      'POST',
      'PUT',
    ]);
  });
});

describe('throttles that apply (defect 2)', () => {
  it('throttles the send route with the property names the Stage schema defines', () => {
    const stage = Object.values(dev.templates.httpApi).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage')!;
    expect(stage.Properties.RouteSettings).toEqual({
      [routeKey(routes.sendMessage)]: {
        ThrottlingBurstLimit: 100,
        ThrottlingRateLimit: 50,
        DetailedMetricsEnabled: true,
      },
      // The unauthenticated route must not use up the stage's shared limit.
      [routeKey(routes.unsubscribe)]: {
        ThrottlingBurstLimit: 20,
        ThrottlingRateLimit: 10,
        DetailedMetricsEnabled: true,
      },
      [routeKey(routes.unsubscribePage)]: {
        ThrottlingBurstLimit: 20,
        ThrottlingRateLimit: 10,
        DetailedMetricsEnabled: true,
      },
    });
    expect(stage.Properties.DefaultRouteSettings).toEqual({
      ThrottlingBurstLimit: 500,
      ThrottlingRateLimit: 250,
      DetailedMetricsEnabled: true,
    });
  });

  it('spells every key of every raw-JSON property as the resource schema does', () => {
    const checkPolicy = (doc: any, where: string) => {
      expect(
        Object.keys(doc).filter((k) => !policyDocumentProperties.includes(k)),
        where,
      ).toEqual([]);
      for (const statement of doc.Statement)
        expect(
          Object.keys(statement).filter((k) => !policyStatementProperties.includes(k)),
          where,
        ).toEqual([]);
    };
    const checkers: Record<string, (value: any, where: string) => void> = {
      'AWS::ApiGatewayV2::Stage.RouteSettings': (value, where) => {
        for (const settings of Object.values(value))
          expect(
            Object.keys(settings as object).filter((k) => !stageRouteSettingsProperties.includes(k)),
            where,
          ).toEqual([]);
      },
      'AWS::Events::Rule.EventPattern': (value, where) =>
        expect(
          Object.keys(value).filter((k) => !eventPatternFields.includes(k)),
          where,
        ).toEqual([]),
      'AWS::IAM::Policy.PolicyDocument': checkPolicy,
      'AWS::IAM::Role.AssumeRolePolicyDocument': checkPolicy,
      'AWS::KMS::Key.KeyPolicy': checkPolicy,
      'AWS::SNS::TopicPolicy.PolicyDocument': checkPolicy,
      'AWS::SQS::QueuePolicy.PolicyDocument': checkPolicy,
      'AWS::S3::BucketPolicy.PolicyDocument': checkPolicy,
    };
    const seen = new Set<string>();
    for (const s of [dev, prod]) {
      for (const resources of Object.values(s.templates)) {
        for (const [id, resource] of Object.entries(resources)) {
          for (const property of rawJsonProperties[resource.Type] ?? []) {
            const value = resource.Properties?.[property];
            if (value === undefined) continue;
            const key = `${resource.Type}.${property}`;
            seen.add(key);
            // A raw-JSON property nobody checks fails here until a checker is added above.
            expect(checkers[key], `no checker for ${key}`).toBeDefined();
            checkers[key]!(value, `${id}.${property}`);
          }
        }
      }
    }
    expect(seen).toContain('AWS::ApiGatewayV2::Stage.RouteSettings');
    // Every resource type we synthesise was looked up in the schemas.
    const types = new Set(
      Object.values(dev.templates).flatMap((resources) => Object.values(resources).map((r) => r.Type)),
    );
    const unknown = [...types].filter(
      (t) => !t.startsWith('Custom::') && !(t in rawJsonProperties) && !knownWithoutRawJson.includes(t),
    );
    expect(unknown).toEqual([]);
  });
});

/** Resource types whose schemas have no raw-JSON property (checked in the same schemas). */
const knownWithoutRawJson = [
  'AWS::ApiGatewayV2::Authorizer',
  'AWS::ApiGatewayV2::Integration',
  'AWS::CloudWatch::Alarm',
  'AWS::CloudWatch::Dashboard',
  'AWS::Cognito::UserPool',
  'AWS::Cognito::UserPoolClient',
  'AWS::Cognito::UserPoolGroup',
  'AWS::EC2::FlowLog',
  'AWS::EC2::RouteTable',
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::Subnet',
  'AWS::EC2::SubnetRouteTableAssociation',
  'AWS::EC2::VPC',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::Lambda::Function',
  'AWS::Lambda::Permission',
  'AWS::Lambda::Version',
  'AWS::RDS::DBCluster',
  'AWS::RDS::DBInstance',
  'AWS::RDS::DBSubnetGroup',
  'AWS::S3::Bucket',
  'AWS::Scheduler::Schedule',
  'AWS::SecretsManager::Secret',
  'AWS::SES::ConfigurationSet',
  'AWS::SES::ConfigurationSetEventDestination',
  'AWS::SES::EmailIdentity',
  'AWS::SecretsManager::SecretTargetAttachment',
  'AWS::SNS::Subscription',
];

describe('sign-up and its email (defects 5 and 6)', () => {
  it('gives the post-confirmation trigger Cognito\u2019s 5 s and a short resume retry', () => {
    const [, fn] = fnNamed(dev, 'post-confirmation');
    expect(fn.Properties.Timeout).toBe(5);
    expect(fn.Properties.Environment.Variables.DB_RESUME_RETRY_MS).toBe('2000');
    dev.assertions.auth.hasResourceProperties('AWS::Cognito::UserPool', {
      LambdaConfig: { PostConfirmation: Match.anyValue(), PreTokenGeneration: Match.anyValue() },
    });
  });

  it('sends prod email through SES from the configured identity; dev keeps Cognito\u2019s sender', () => {
    prod.assertions.auth.hasResourceProperties('AWS::Cognito::UserPool', {
      EmailConfiguration: {
        EmailSendingAccount: 'DEVELOPER',
        From: 'no-reply@example.com',
        SourceArn: 'arn:aws:ses:eu-west-1:111111111111:identity/example.com',
      },
    });
    dev.assertions.auth.hasResourceProperties('AWS::Cognito::UserPool', {
      EmailConfiguration: { EmailSendingAccount: 'COGNITO_DEFAULT' },
    });
  });

  it('makes the pool, its client, the three groups and the outputs', () => {
    const groups = ofType(dev, 'AWS::Cognito::UserPoolGroup').map(([, g]) => g.Properties.GroupName);
    expect(groups.sort()).toEqual(['admin', 'agent', 'service_provider']);
    dev.assertions.auth.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    for (const [key, output] of [
      ['auth', 'UserPoolId'],
      ['auth', 'UserPoolClientId'],
      ['httpApi', 'ApiUrl'],
      ['webSocket', 'WebSocketUrl'],
      ['events', 'EventBusName'],
      ['attachments', 'AttachmentsBucketName'],
      ['notifications', 'ConfigurationSetName'],
      ['notifications', 'RelayFunctionName'],
      ['observability', 'AlarmTopicArn'],
    ] as const) {
      dev.assertions[key].hasOutput(output, {});
    }
  });
});

describe('the rest of the deployment', () => {
  it('puts every HTTP route behind the Cognito JWT authorizer, but the public one-click unsubscribe and its page', () => {
    const httpRoutes = Object.values(dev.templates.httpApi).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route');
    expect(httpRoutes).toHaveLength(routeList.length);
    const publicKeys = routeList.filter((r) => r.access === 'public').map(routeKey);
    expect(publicKeys.sort()).toEqual(['GET /v1/notifications/unsubscribe', 'POST /v1/notifications/unsubscribe']);
    for (const route of httpRoutes) {
      if (publicKeys.includes(route.Properties.RouteKey)) {
        expect(route.Properties.AuthorizationType).toBe('NONE');
        expect(route.Properties.AuthorizerId).toBeUndefined();
        continue;
      }
      expect(route.Properties.AuthorizationType, route.Properties.RouteKey).toBe('JWT');
      expect(route.Properties.AuthorizerId).toBeDefined();
    }
    dev.assertions.httpApi.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Audience: [Match.anyValue()], Issuer: Match.anyValue() },
    });
  });

  it('runs Aurora PostgreSQL at the newest 16.x minor aws-cdk-lib knows, encrypted, in isolated subnets', () => {
    const newest16 = Object.keys(rds.AuroraPostgresEngineVersion)
      .filter((k) => /^VER_16_\d+$/.test(k))
      .map((k) => (rds.AuroraPostgresEngineVersion as any)[k].auroraPostgresFullVersion as string)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
      .pop();
    expect(auroraEngineVersion.auroraPostgresFullVersion).toBe(newest16);
    dev.assertions.data.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: newest16,
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2 },
    });
    expect(ofType(dev, 'AWS::EC2::NatGateway')).toEqual([]);
    expect(ofType(dev, 'AWS::EC2::InternetGateway')).toEqual([]);
  });

  it('routes each order event to its Lambda with a dead-letter queue, retries and an on-failure destination', () => {
    const rules = Object.entries(dev.templates.events).filter(([, r]) => r.Type === 'AWS::Events::Rule');
    expect(rules.map(([, r]) => r.Properties.EventPattern['detail-type'][0]).sort()).toEqual(
      eventRuleList.map((r) => r.detailType).sort(),
    );
    for (const [, rule] of rules) {
      expect(rule.Properties.EventPattern.source).toEqual(['order-service']);
      const [target] = rule.Properties.Targets;
      expect(target.DeadLetterConfig.Arn).toBeDefined();
      expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 });
    }
    const invokeConfigs = Object.values(dev.templates.events).filter(
      (r) => r.Type === 'AWS::Lambda::EventInvokeConfig',
    );
    expect(invokeConfigs).toHaveLength(eventRuleList.length);
    for (const config of invokeConfigs) expect(config.Properties.DestinationConfig.OnFailure.Destination).toBeDefined();
    expect(
      ofType(dev, 'AWS::SQS::Queue')
        .map(([, q]) => q.Properties.QueueName)
        .sort(),
    ).toEqual(allFailureQueues('dev').sort());
  });

  it('keeps data in prod: deletion protection, snapshots, the order bus imported by name', () => {
    const data = prod.assertions.data;
    data.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: true, BackupRetentionPeriod: 30 });
    data.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot' });
    data.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain' });
    prod.assertions.events.resourceCountIs('AWS::Events::EventBus', 0);
    const orderRules = Object.values(prod.templates.events).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(orderRules.map((r) => r.Properties.EventBusName)).toEqual(eventRuleList.map(() => 'orders'));
  });
});

describe('the dashboard', () => {
  it('shows per-route API traffic, errors and latency, Lambda, Aurora, the failure queues and the business metrics', () => {
    const [, dashboard] = ofType(dev, 'AWS::CloudWatch::Dashboard')[0]!;
    // The body is a Fn::Join of strings and the API id (a reference): join with a placeholder.
    const parts = dashboard.Properties.DashboardBody['Fn::Join'][1] as unknown[];
    const body = JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'API_ID')).join(''));
    const metrics: unknown[][] = body.widgets.flatMap((w: any) => w.properties?.metrics ?? []);
    const has = (namespace: string, name: string, ...dimensions: string[]) =>
      metrics.some((m) => {
        const flat = m.filter((x) => typeof x === 'string');
        const i = flat.indexOf(name);
        return flat.includes(namespace) && i >= 0 && dimensions.every((d) => flat.includes(d));
      });
    for (const route of routeList) {
      for (const name of ['Count', '4xx', '5xx', 'Latency'])
        expect(has('AWS/ApiGateway', name, 'Route', routeKey(route)), `${name} ${routeKey(route)}`).toBe(true);
    }
    const stats = metrics.map((m) => json(m.at(-1)));
    for (const p of ['p50', 'p95', 'p99']) expect(stats.some((s) => s.includes(`"stat":"${p}"`))).toBe(true);
    for (const fn of functionsOf(dev).map(([, r]) => r.Properties.FunctionName as string)) {
      for (const name of ['Errors', 'Duration', 'ConcurrentExecutions'])
        expect(has('AWS/Lambda', name, fn), `${name} ${fn}`).toBe(true);
    }
    expect(has('AWS/RDS', 'ServerlessDatabaseCapacity', 'messaging-dev')).toBe(true);
    for (const queue of allFailureQueues('dev'))
      expect(has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', queue)).toBe(true);
    for (const name of Object.values(businessMetrics)) expect(has('Messaging', name, 'Stage', 'dev'), name).toBe(true);
  });
});

describe('deterministic assets', () => {
  it('gives each function the same asset hash wherever the cloud assembly is written', () => {
    const keys = (s: Synthesized) =>
      Object.fromEntries(
        functionsOf(s).map(([, r]) => [
          String(r.Properties.FunctionName).replace(/^messaging-(dev|prod)-/, ''),
          r.Properties.Code.S3Key,
        ]),
      );
    expect(dev.outdir.split('/').length).not.toBe(prod.outdir.split('/').length);
    expect(keys(prod)).toEqual(keys(dev));
  });

  it('writes source maps with project-relative paths', () => {
    const assetDirs = readdirSync(dev.outdir).filter((d) => d.startsWith('asset.'));
    const maps = assetDirs.flatMap((d) =>
      readdirSync(join(dev.outdir, d))
        .filter((f) => f.endsWith('.map'))
        .map((f) => join(dev.outdir, d, f)),
    );
    expect(maps.length).toBeGreaterThanOrEqual(routeList.length + eventRuleList.length + 2);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] };
      for (const source of sources) expect(source).toMatch(/^(functions|lib|migrations|node_modules)\//);
    }
  });

  it('bundles node:http as a CommonJS read, so that no cold start loads undici', () => {
    const bundles = functionsOf(dev).map(([, r]) =>
      join(dev.outdir, `asset.${String(r.Properties.Code.S3Key).replace(/\.zip$/, '')}`, 'index.mjs'),
    );
    for (const bundle of bundles)
      expect(readFileSync(bundle, 'utf8'), bundle).not.toMatch(/(from|import)\s*\(?\s*"(node:)?http"/);
    // Imported as the runtime would, from inside the project so that the AWS SDK resolves.
    const [, sendMessage] = fnNamed(dev, 'send-message');
    const dir = join(projectRoot, '.data', 'test', 'bundle-import');
    mkdirSync(dir, { recursive: true });
    const copy = join(dir, 'index.mjs');
    copyFileSync(
      join(dev.outdir, `asset.${String(sendMessage.Properties.Code.S3Key).replace(/\.zip$/, '')}`, 'index.mjs'),
      copy,
    );
    const script = `const m = await import(${JSON.stringify(pathToFileURL(copy).href)});
      const lazy = Object.getOwnPropertyDescriptor(process.getBuiltinModule('node:http'), 'WebSocket')?.get;
      process.stdout.write(JSON.stringify({ handler: typeof m.handler, lazyGetter: typeof lazy, undici: process.moduleLoadList.filter((x) => x.includes('undici')) }));`;
    const loaded = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: lambdaEnv }).toString(),
    );
    // On a Node whose node:http has the lazy getter (24, the runtime's), so that the check means something.
    expect(loaded).toEqual({ handler: 'function', lazyGetter: 'function', undici: [] });
  });
});
