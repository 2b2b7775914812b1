import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventRuleList } from '../../lib/events/order-events';
import { routeKey, routeList } from '../../lib/http/routes';
import { buildApp } from '../../lib/infra/app';

/**
 * The CloudFormation the CDK app synthesises, offline, checked for what we mean by it.
 * Synthesis bundles every Lambda with esbuild, as `cdk deploy` would.
 */
type Resources = Record<string, { Type: string; Properties?: any; DependsOn?: string[] }>;

let template: Template;
let resources: Resources;

function synth(context: Record<string, string>) {
  const built = buildApp({ context, outdir: mkdtempSync(join(tmpdir(), 'messaging-cdk-')) });
  built.synth();
  return built;
}

beforeAll(() => {
  const { stack } = synth({ stage: 'dev' });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

describe('the CDK app', () => {
  it('makes one Lambda per route of the route table, and no other HTTP functions', () => {
    const http = ofType('AWS::Lambda::Function')
      .map(([, r]) => r.Properties.Description as string)
      .filter((d) => d?.startsWith('http '))
      .map((d) => d.slice('http '.length));
    expect(http.sort()).toEqual(routeList.map(routeKey).sort());
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey as string);
    expect(routes.sort()).toEqual(routeList.map(routeKey).sort());
  });

  it('puts every route behind the Cognito JWT authorizer', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    expect(routes.length).toBe(routeList.length);
    for (const [, route] of routes) {
      expect(route.Properties.AuthorizationType).toBe('JWT');
      expect(route.Properties.AuthorizerId).toBeDefined();
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Audience: [Match.anyValue()], Issuer: Match.anyValue() },
    });
  });

  it('builds every function as ESM on nodejs22.x, arm64, with the Data API environment', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function').filter(([, r]) => /^(http|event|ops|cognito) /.test(r.Properties.Description ?? ''))) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
      expect(Object.keys(fn.Properties.Environment.Variables)).toEqual(expect.arrayContaining(['DB_CLUSTER_ARN', 'DB_SECRET_ARN', 'DB_NAME']));
    }
  });

  it('enables the Data API on an encrypted Aurora PostgreSQL Serverless v2 cluster in isolated subnets', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2 },
    });
    template.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' });
    expect(ofType('AWS::EC2::NatGateway')).toEqual([]);
    expect(ofType('AWS::EC2::InternetGateway')).toEqual([]);
  });

  it('routes each order event to its Lambda with a dead-letter queue, retries and an on-failure destination', () => {
    const rules = ofType('AWS::Events::Rule');
    expect(rules.map(([, r]) => r.Properties.EventPattern['detail-type'][0]).sort()).toEqual(eventRuleList.map((r) => r.detailType).sort());
    for (const [, rule] of rules) {
      expect(rule.Properties.EventPattern.source).toEqual(['order-service']);
      const [target] = rule.Properties.Targets;
      expect(target.DeadLetterConfig.Arn).toBeDefined();
      expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 });
    }
    const invokeConfigs = ofType('AWS::Lambda::EventInvokeConfig');
    expect(invokeConfigs).toHaveLength(eventRuleList.length);
    for (const [, config] of invokeConfigs) expect(config.Properties.DestinationConfig.OnFailure.Destination).toBeDefined();
  });

  it('runs the migrations after the cluster exists, on every deploy that changes them', () => {
    const triggers = ofType('Custom::Trigger');
    expect(triggers).toHaveLength(1);
    const trigger = triggers[0]![1];
    const cluster = ofType('AWS::RDS::DBCluster')[0]![0];
    const writer = ofType('AWS::RDS::DBInstance')[0]![0];
    expect(trigger.DependsOn).toEqual(expect.arrayContaining([cluster, writer]));
  });

  it('grants no IAM statement with a wildcard action or resource, outside what CDK itself needs', () => {
    const wildcards: string[] = [];
    for (const [id, policy] of ofType('AWS::IAM::Policy')) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        const actions = [statement.Action].flat();
        const resourcesOf = [statement.Resource].flat();
        const wild = actions.some((a: unknown) => typeof a === 'string' && (a === '*' || a.endsWith(':*'))) || resourcesOf.some((r: unknown) => r === '*');
        if (wild) wildcards.push(`${id}: ${JSON.stringify(statement.Action)} on ${JSON.stringify(statement.Resource)}`);
      }
    }
    // The only wildcard is CDK's own trigger provider being allowed to invoke the migration function's versions.
    expect(wildcards.filter((w) => !w.startsWith('AWSCDKTriggerCustomResourceProvider'))).toEqual([]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['rds-data:BeginTransaction', 'rds-data:ExecuteStatement']),
            Resource: Match.objectLike({}),
          }),
        ]),
      },
    });
    // Our functions' roles carry no AWS-managed policy (CDK's own custom-resource providers do).
    const managed = ofType('AWS::IAM::Role')
      .filter(([id]) => !id.startsWith('AWSCDK'))
      .flatMap(([id, r]) => (r.Properties.ManagedPolicyArns ?? []).map((arn: unknown) => `${id}: ${JSON.stringify(arn)}`));
    expect(managed).toEqual([]);
  });

  it('alarms on dead letters, Lambda errors and throttles, and API 5xx', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => `${a.Properties.Namespace}/${a.Properties.MetricName}`);
    expect(alarms.filter((a) => a === 'AWS/SQS/ApproximateNumberOfMessagesVisible')).toHaveLength(2);
    expect(alarms.filter((a) => a === 'AWS/ApiGateway/5xx')).toHaveLength(1);
    const functions = routeList.length + eventRuleList.length + 2;
    expect(alarms.filter((a) => a === 'AWS/Lambda/Errors')).toHaveLength(functions);
    expect(alarms.filter((a) => a === 'AWS/Lambda/Throttles')).toHaveLength(functions);
  });

  it('makes the Cognito pool, its client, the three groups and the post-confirmation trigger', () => {
    const groups = ofType('AWS::Cognito::UserPoolGroup').map(([, g]) => g.Properties.GroupName);
    expect(groups.sort()).toEqual(['admin', 'agent', 'service_provider']);
    template.hasResourceProperties('AWS::Cognito::UserPool', { LambdaConfig: { PostConfirmation: Match.anyValue() } });
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    template.hasOutput('ApiUrl', {});
    template.hasOutput('UserPoolId', {});
    template.hasOutput('UserPoolClientId', {});
    template.hasOutput('EventBusName', {});
  });
});

describe('stages and cdk-nag', () => {
  it('keeps data in prod: deletion protection, snapshots, the order bus imported by name', () => {
    const { stack } = synth({ stage: 'prod', orderBusName: 'orders' });
    const prod = Template.fromStack(stack);
    prod.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: true, BackupRetentionPeriod: 30 });
    prod.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot' });
    prod.resourceCountIs('AWS::Events::EventBus', 0);
    const rules = Object.values(prod.findResources('AWS::Events::Rule'));
    expect(rules.map((r) => r.Properties.EventBusName)).toEqual(eventRuleList.map(() => 'orders'));
  });

  it('passes the AwsSolutions pack with every finding acknowledged, and fails without the acknowledgements', () => {
    expect(() => synth({ stage: 'dev' })).not.toThrow();
    const unacknowledged = buildApp({ context: { stage: 'dev' }, outdir: mkdtempSync(join(tmpdir(), 'messaging-cdk-')) }, { acknowledge: false });
    expect(() => unacknowledged.synth()).toThrow();
  });
});
