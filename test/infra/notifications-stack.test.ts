import { beforeAll, describe, expect, it } from 'vitest';
import { eventRuleList } from '../../lib/events/order-events';
import { routeKey, routeList, routes } from '../../lib/http/routes';
import {
  notificationFailureQueueNames,
  outboxRelayFunctionName,
  unsubscribeKeySecretName,
} from '../../lib/infra/names';
import { alarmMeanings } from '../../lib/infra/stacks/observability-stack';
import { stageConfig } from '../../lib/infra/stage-config';
import {
  account,
  acknowledgedFindings,
  alarms,
  type Synthesized as Built,
  prodContext as baseProdContext,
  lambdaAlarms,
  type Resource,
  region,
  synthesize,
  type Templates,
} from './synth';

/**
 * The notifications stack: the SES identity and configuration set (its bounces and complaints to
 * EventBridge), the digest sweep and the outbox relay with their every-minute schedules, the
 * feedback rule, the unsubscribe links' key; who may send, publish, read the key and nudge the
 * relay (exactly the functions that need to); the public unsubscribe route; alarms, cdk-nag and
 * where the stack sits in the deployment order. Built without bundling (`aws:cdk:bundling-stacks`
 * empty): nothing here depends on the Lambda code.
 */
/** prod sends Cognito's mail from its verified domain: the digests use that identity, which exists already. */
const prodContext = { ...baseProdContext, sesVerifiedDomain: 'example.com' };
const build = (context: Record<string, unknown>) => synthesize(context, { stack: 'notifications' });

let dev: Built;
let prod: Built;
/** prod with a sending domain of its own, which the stack then creates. */
let prodOwnDomain: Built;
beforeAll(() => {
  dev = build({ stage: 'dev' });
  prod = build(prodContext);
  prodOwnDomain = build({
    ...prodContext,
    emailDomain: 'mail.example.org',
    emailFrom: 'Marketplace <digests@mail.example.org>',
    notifyDelaySeconds: '900',
    eventSource: 'marketplace.messaging',
    outgoingEventBus: 'integration',
  });
}, 180_000);

const ofType = (resources: Record<string, Resource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const json = (value: unknown) => JSON.stringify(value);
const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const getAtt = (id: string | undefined) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const fnId = (resources: Record<string, Resource>, name: string) =>
  ofType(resources, 'AWS::Lambda::Function').find(([, r]) => r.Properties.FunctionName === name)?.[0];
const queueId = (b: Built, name: string) =>
  ofType(b.templates.notifications, 'AWS::SQS::Queue').find(([, q]) => q.Properties.QueueName === name)![0];
const envOf = (b: Built, name: string) =>
  Object.values(b.templates)
    .flatMap((resources) => ofType(resources, 'AWS::Lambda::Function'))
    .find(([, f]) => f.Properties.FunctionName === `messaging-${b.stage}-${name}`)![1].Properties.Environment.Variables;

/** Function name (or policy and role, for a role no function has) → its statements that match. */
function statementsWhere(b: Built, matches: (statement: any) => boolean): Record<string, any[]> {
  const granted: Record<string, any[]> = {};
  for (const resources of Object.values(b.templates)) {
    for (const [policyId, policy] of ofType(resources, 'AWS::IAM::Policy')) {
      const statements = (policy.Properties.PolicyDocument.Statement as any[]).filter(matches);
      if (!statements.length) continue;
      for (const role of policy.Properties.Roles as { Ref: string }[]) {
        const fn = ofType(resources, 'AWS::Lambda::Function').find(
          ([, f]) => json(f.Properties.Role) === json(getAtt(role.Ref)),
        );
        const name = fn ? (fn[1].Properties.FunctionName as string) : `${policyId} (role ${role.Ref})`;
        granted[name] = [...(granted[name] ?? []), ...statements];
      }
    }
  }
  return granted;
}
/** The schedule named after the function `messaging-<stage>-<name>`, and the function's async invoke config. */
const scheduled = (b: Built, name: string, fn: string | undefined) => ({
  schedule: ofType(b.templates.notifications, 'AWS::Scheduler::Schedule').find(
    ([, s]) => s.Properties.Name === `messaging-${b.stage}-${name}`,
  )![1].Properties,
  config: ofType(b.templates.notifications, 'AWS::Lambda::EventInvokeConfig').find(
    ([, c]) => c.Properties.FunctionName.Ref === fn,
  )![1].Properties,
});
/** Every minute, retried twice within the minute, then to the schedules' dead-letter queue. */
const everyMinute = (b: Built, fn: string | undefined) => ({
  ScheduleExpression: 'rate(1 minute)',
  Target: {
    Arn: getAtt(fn),
    RetryPolicy: { MaximumEventAgeInSeconds: 60, MaximumRetryAttempts: 2 },
    DeadLetterConfig: { Arn: getAtt(queueId(b, notificationFailureQueueNames(b.stage).schedules)) },
  },
});
/** The function's async invoke config: not retried, events at most a minute old. */
const notRetried = (fn: string | undefined) => ({
  FunctionName: { Ref: fn },
  Qualifier: '$LATEST',
  MaximumRetryAttempts: 0,
  MaximumEventAgeInSeconds: 60,
});
const hasAction = (prefix: string) => (s: any) =>
  asList(s.Action).some((a: string) => a.startsWith(prefix) || a === '*');

const prodIdentityArn = `arn:aws:ses:${region}:${account}:identity/example.com`;
const prodConfigurationSetArn = `arn:aws:ses:${region}:${account}:configuration-set/messaging-prod-email`;
const prodSecretArn = `arn:aws:secretsmanager:${region}:${account}:secret:${unsubscribeKeySecretName('prod')}`;
const prodRelayArn = `arn:aws:lambda:${region}:${account}:function:${outboxRelayFunctionName('prod')}`;

describe('SES', () => {
  it('has a configuration set whose bounces and complaints go to the default event bus', () => {
    for (const b of [dev, prod]) {
      const resources = b.templates.notifications;
      const sets = ofType(resources, 'AWS::SES::ConfigurationSet');
      expect(sets).toHaveLength(1);
      const [setId, set] = sets[0]!;
      expect(set.Properties).toEqual({
        Name: `messaging-${b.stage}-email`,
        ReputationOptions: { ReputationMetricsEnabled: true },
        SendingOptions: { SendingEnabled: true },
        SuppressionOptions: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
      });
      const destinations = ofType(resources, 'AWS::SES::ConfigurationSetEventDestination');
      expect(destinations).toHaveLength(1);
      const bus =
        b.stage === 'prod'
          ? `arn:aws:events:${region}:${account}:event-bus/default`
          : {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':events:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  ':event-bus/default',
                ],
              ],
            };
      expect(destinations[0]![1].Properties).toEqual({
        ConfigurationSetName: { Ref: setId },
        EventDestination: {
          Name: 'bounces-and-complaints-to-eventbridge',
          Enabled: true,
          EventBridgeDestination: { EventBusArn: bus },
          MatchingEventTypes: ['bounce', 'complaint'],
        },
      });
    }
  });

  it('creates the sender’s domain identity with Easy DKIM and the configuration set, unless it exists already', () => {
    // dev: example.com by default; prod with a domain of its own: that domain.
    for (const [b, domain] of [
      [dev, 'example.com'],
      [prodOwnDomain, 'mail.example.org'],
    ] as const) {
      const resources = b.templates.notifications;
      const identities = ofType(resources, 'AWS::SES::EmailIdentity');
      expect(identities).toHaveLength(1);
      const setId = ofType(resources, 'AWS::SES::ConfigurationSet')[0]![0];
      expect(identities[0]![1].Properties).toMatchObject({
        EmailIdentity: domain,
        ConfigurationSetAttributes: { ConfigurationSetName: { Ref: setId } },
      });
      // The DKIM records to publish are outputs.
      expect(Object.keys(b.outputs).filter((k) => k.startsWith('DkimRecord'))).toHaveLength(3);
    }
    // prod sending from Cognito's verified domain: the identity is the account's already.
    expect(ofType(prod.templates.notifications, 'AWS::SES::EmailIdentity')).toEqual([]);
    expect(Object.keys(prod.outputs).filter((k) => k.startsWith('DkimRecord'))).toEqual([]);
  });

  it('derives the sender from the stage configuration and refuses a sender outside the identity', () => {
    const config = (context: Record<string, unknown>) => stageConfig((key) => context[key], {});
    expect(config({}).email).toEqual({
      domain: 'example.com',
      from: 'notifications@example.com',
      createIdentity: true,
    });
    expect(config({ sesFromEmail: 'no-reply@shop.example.net', sesVerifiedDomain: 'shop.example.net' }).email).toEqual({
      domain: 'shop.example.net',
      from: 'notifications@shop.example.net',
      createIdentity: false,
    });
    expect(config({ sesFromEmail: 'no-reply@shop.example.net' }).email).toMatchObject({
      domain: 'shop.example.net',
      createIdentity: true,
    });
    expect(config({ emailDomain: 'example.org', emailIdentityExists: 'true' }).email.createIdentity).toBe(false);
    expect(() => config({ emailDomain: 'example.org', emailFrom: 'x@example.com' })).toThrow(
      /-c emailFrom: .* not an address at the SES identity example.org/,
    );
    expect(() => config({ emailDomain: 'not a domain' })).toThrow(/-c emailDomain/);
    expect(() => config({ notifyDelaySeconds: '0' })).toThrow(/-c notifyDelaySeconds: must be a whole number/);
    expect(() => config({ eventSource: '' })).toThrow(/-c eventSource: must not be empty/);
    expect(config({}).eventSource).toBe('messaging-service');
    expect(config({}).outgoingEventBus).toBe('default');
    expect(config({}).notifyDelaySeconds).toBe(300);
  });
});

describe('the digest sweep', () => {
  it('runs every minute on EventBridge Scheduler with the schedules’ dead-letter queue, and is not retried', () => {
    for (const b of [dev, prod]) {
      const resources = b.templates.notifications;
      const digest = fnId(resources, `messaging-${b.stage}-send-digests`);
      expect(resources[digest!]!.Properties.Timeout).toBe(60);
      const { schedule, config } = scheduled(b, 'send-digests', digest);
      expect(schedule).toMatchObject({
        ...everyMinute(b, digest),
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
      });
      expect(config).toEqual(notRetried(digest));
    }
  });

  it('gets the sender, the configuration set, the API’s URL, the delay and the key’s secret', () => {
    const httpApiEndpoint = json(prod.templates.notifications).match(/PublishOutputFnGetAttApi\w*ApiEndpoint\w*/)?.[0];
    expect(httpApiEndpoint).toBeDefined();
    expect(envOf(prod, 'send-digests')).toMatchObject({
      EMAIL_FROM: 'notifications@example.com',
      SES_CONFIGURATION_SET: 'messaging-prod-email',
      NOTIFY_DELAY_SECONDS: '300',
      NOTIFY_BATCH: '100',
      UNSUBSCRIBE_SECRET_ARN: prodSecretArn,
    });
    // The API's endpoint, by reference to the HttpApi stack.
    expect(json(envOf(prod, 'send-digests').PUBLIC_API_URL)).toContain('Messaging-prod-HttpApi');
    expect(json(envOf(prod, 'send-digests').PUBLIC_API_URL)).toContain('ApiEndpoint');
    expect(envOf(prodOwnDomain, 'send-digests')).toMatchObject({
      EMAIL_FROM: 'Marketplace <digests@mail.example.org>',
      NOTIFY_DELAY_SECONDS: '900',
    });
    // Never the local stack's endpoints or key.
    for (const b of [dev, prod])
      for (const variable of ['SES_ENDPOINT', 'OUTGOING_EVENTS_ENDPOINT', 'LAMBDA_ENDPOINT', 'UNSUBSCRIBE_KEY"'])
        expect(json(b.templates), variable).not.toContain(variable);
  });

  it('alone may send email: SendEmail on the identity and the configuration set, nothing else', () => {
    // (IAM policy minimisation sorts the resources.)
    expect(statementsWhere(prod, hasAction('ses:'))).toEqual({
      'messaging-prod-send-digests': [
        { Effect: 'Allow', Action: 'ses:SendEmail', Resource: [prodConfigurationSetArn, prodIdentityArn] },
      ],
    });
    expect(statementsWhere(prodOwnDomain, hasAction('ses:'))).toEqual({
      'messaging-prod-send-digests': [
        {
          Effect: 'Allow',
          Action: 'ses:SendEmail',
          Resource: [prodConfigurationSetArn, `arn:aws:ses:${region}:${account}:identity/mail.example.org`],
        },
      ],
    });
    expect(Object.keys(statementsWhere(dev, hasAction('ses:')))).toEqual(['messaging-dev-send-digests']);
  });
});

describe('the unsubscribe links’ key', () => {
  it('is a generated secret of 64 letters and digits, by its fixed name, kept in prod', () => {
    for (const [b, policy] of [
      [dev, 'Delete'],
      [prod, 'Retain'],
    ] as const) {
      const secrets = ofType(b.templates.notifications, 'AWS::SecretsManager::Secret');
      expect(secrets).toHaveLength(1);
      const [, secret] = secrets[0]!;
      expect(secret.Properties).toMatchObject({
        Name: `messaging-${b.stage}-unsubscribe-key`,
        GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false },
      });
      expect(secret.Properties.GenerateSecretString.SecretStringTemplate).toBeUndefined();
      expect(secret.DeletionPolicy).toBe(policy);
      // No rotation: the key signs links already sent (acknowledged for cdk-nag).
      expect(ofType(b.templates.notifications, 'AWS::SecretsManager::RotationSchedule')).toEqual([]);
    }
  });

  it('is readable by the digest function and the unsubscribe route alone, GetSecretValue only', () => {
    const readers = statementsWhere(prod, (s) => json(s.Resource).includes('unsubscribe-key'));
    const statement = { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: `${prodSecretArn}-??????` };
    expect(readers).toEqual({
      'messaging-prod-send-digests': [statement],
      'messaging-prod-unsubscribe': [statement],
    });
    expect(routes.unsubscribe.bindings).toEqual(['database', 'unsubscribeKey']);
    expect(envOf(prod, 'unsubscribe').UNSUBSCRIBE_SECRET_ARN).toBe(prodSecretArn);
    expect(Object.keys(statementsWhere(dev, (s) => json(s.Resource).includes('unsubscribe-key'))).sort()).toEqual([
      'messaging-dev-send-digests',
      'messaging-dev-unsubscribe',
    ]);
  });
});

describe('the outbox relay', () => {
  it('has its fixed name, runs every minute and on the writers’ nudges, and records failed runs', () => {
    for (const b of [dev, prod]) {
      const resources = b.templates.notifications;
      const relay = fnId(resources, outboxRelayFunctionName(b.stage));
      expect(relay).toBeDefined();
      expect(b.stacks.notifications.relayFunction.fixedName).toBe(`messaging-${b.stage}-relay-outbox`);
      const { schedule, config } = scheduled(b, 'relay-outbox', relay);
      expect(schedule).toMatchObject(everyMinute(b, relay));
      expect(config).toEqual({
        ...notRetried(relay),
        DestinationConfig: {
          OnFailure: { Destination: getAtt(queueId(b, notificationFailureQueueNames(b.stage).relay)) },
        },
      });
    }
    expect(envOf(prod, 'relay-outbox')).toMatchObject({
      EVENT_SOURCE: 'messaging-service',
      OUTGOING_EVENT_BUS: 'default',
    });
    expect(envOf(prodOwnDomain, 'relay-outbox')).toMatchObject({
      EVENT_SOURCE: 'marketplace.messaging',
      OUTGOING_EVENT_BUS: 'integration',
    });
  });

  it('alone may PutEvents: on the configured bus, with this service’s source only', () => {
    expect(statementsWhere(prod, hasAction('events:'))).toEqual({
      'messaging-prod-relay-outbox': [
        {
          Effect: 'Allow',
          Action: 'events:PutEvents',
          Resource: `arn:aws:events:${region}:${account}:event-bus/default`,
          Condition: { StringEquals: { 'events:source': 'messaging-service' } },
        },
      ],
    });
    expect(statementsWhere(prodOwnDomain, hasAction('events:'))).toEqual({
      'messaging-prod-relay-outbox': [
        {
          Effect: 'Allow',
          Action: 'events:PutEvents',
          Resource: `arn:aws:events:${region}:${account}:event-bus/integration`,
          Condition: { StringEquals: { 'events:source': 'marketplace.messaging' } },
        },
      ],
    });
  });

  it('may be invoked by the writers alone: the routes bound to it and the order-event functions, by its name', () => {
    const writers = [...routeList.filter((r) => r.bindings.includes('outboxRelay')), ...eventRuleList].map(
      (r) => `messaging-prod-${r.id}`,
    );
    const invokers = statementsWhere(prod, (s) => json(s.Resource).includes('relay-outbox'));
    expect(Object.keys(invokers).sort()).toEqual(writers.sort());
    for (const [name, statements] of Object.entries(invokers)) {
      expect(statements, name).toEqual([{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: prodRelayArn }]);
      expect(envOf(prod, name.replace('messaging-prod-', '')).OUTBOX_RELAY_FUNCTION).toBe(
        'messaging-prod-relay-outbox',
      );
    }
    // The writes that queue events hold it; reads and settings do not.
    for (const writer of [
      routes.sendMessage,
      routes.createConversation,
      routes.addParticipant,
      routes.removeParticipant,
    ])
      expect(writers).toContain(`messaging-prod-${writer.id}`);
    for (const reader of [routes.getConversation, routes.listConversations, routes.listMessages, routes.getProfile]) {
      expect(writers).not.toContain(`messaging-prod-${reader.id}`);
      expect(envOf(prod, reader.id).OUTBOX_RELAY_FUNCTION).toBeUndefined();
    }
    // The schedule's role invokes it by reference, in its own stack.
    expect(
      Object.keys(
        statementsWhere(
          prod,
          (s) => s.Action === 'lambda:InvokeFunction' && json(s.Resource).includes('opsrelayoutbox'),
        ),
      ),
    ).toHaveLength(1);
  });
});

describe('bounces and complaints', () => {
  it('reach on-email-feedback by a rule on the default bus for this configuration set’s mail alone', () => {
    for (const b of [dev, prod]) {
      const resources = b.templates.notifications;
      const feedback = fnId(resources, `messaging-${b.stage}-on-email-feedback`);
      const rules = ofType(resources, 'AWS::Events::Rule');
      expect(rules).toHaveLength(1);
      const [, rule] = rules[0]!;
      expect(rule.Properties.EventBusName).toBeUndefined();
      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.ses'],
        'detail-type': ['Email Bounced', 'Email Complaint Received'],
        detail: { mail: { tags: { 'ses:configuration-set': [`messaging-${b.stage}-email`] } } },
      });
      const names = notificationFailureQueueNames(b.stage);
      expect(rule.Properties.Targets).toEqual([
        {
          Id: 'Target0',
          Arn: getAtt(feedback),
          DeadLetterConfig: { Arn: getAtt(queueId(b, names.feedbackDelivery)) },
          RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
        },
      ]);
      const [, config] = ofType(resources, 'AWS::Lambda::EventInvokeConfig').find(
        ([, c]) => c.Properties.FunctionName.Ref === feedback,
      )!;
      expect(config.Properties).toMatchObject({
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 6 * 3600,
        DestinationConfig: { OnFailure: { Destination: getAtt(queueId(b, names.feedbackProcessing)) } },
      });
      expect(Object.keys(envOf(b, 'on-email-feedback')).filter((k) => k.startsWith('DB_'))).toHaveLength(4);
    }
  });
});

describe('the public unsubscribe route', () => {
  it('has no authorizer (nor has its page); every other route keeps the Cognito JWT authorizer', () => {
    const httpRoutes = ofType(prod.templates.httpApi, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    const publicKeys = [routeKey(routes.unsubscribe), routeKey(routes.unsubscribePage)];
    for (const key of publicKeys) {
      const found = httpRoutes.filter((r) => r.RouteKey === key);
      expect(found, key).toHaveLength(1);
      expect(found[0]).toMatchObject({ AuthorizationType: 'NONE' });
      expect(found[0].AuthorizerId).toBeUndefined();
    }
    const others = httpRoutes.filter((r) => !publicKeys.includes(r.RouteKey));
    expect(others).toHaveLength(routeList.length - 2);
    for (const route of others) {
      expect(route.AuthorizationType, route.RouteKey).toBe('JWT');
      expect(route.AuthorizerId, route.RouteKey).toBeDefined();
    }
  });
});

describe('alarms', () => {
  it('alarm on each failure queue, on errors and throttles of the three functions, and on SES reputation', () => {
    const topic = ofType(dev.templates.observability, 'AWS::SNS::Topic')[0]![0];
    for (const queue of Object.values(notificationFailureQueueNames('dev'))) {
      const id = queue.slice('messaging-dev-'.length) as keyof typeof alarmMeanings;
      const found = alarms(dev).filter(
        (a) => a.MetricName === 'ApproximateNumberOfMessagesVisible' && a.Dimensions[0].Value === queue,
      );
      expect(found, queue).toHaveLength(1);
      expect(found[0]).toMatchObject({
        AlarmName: queue,
        AlarmDescription: alarmMeanings[id],
        Threshold: 0,
        AlarmActions: [{ Ref: topic }],
      });
    }
    for (const name of ['send-digests', 'relay-outbox', 'on-email-feedback'])
      for (const metric of ['Errors', 'Throttles'])
        expect(lambdaAlarms(dev, name, metric), `${metric} ${name}`).toHaveLength(1);
    for (const [metric, id, threshold] of [
      ['Reputation.BounceRate', 'ses-bounce-rate', 0.04],
      ['Reputation.ComplaintRate', 'ses-complaint-rate', 0.0008],
    ] as const)
      expect(alarms(dev).filter((a) => a.Namespace === 'AWS/SES' && a.MetricName === metric)).toEqual([
        expect.objectContaining({
          AlarmName: `messaging-dev-${id}`,
          AlarmDescription: alarmMeanings[id],
          Threshold: threshold,
          ComparisonOperator: 'GreaterThanThreshold',
          Statistic: 'Maximum',
          Period: 3600,
          AlarmActions: [{ Ref: topic }],
        }),
      ]);
  });
});

describe('cdk-nag', () => {
  const findings = acknowledgedFindings;

  it('leaves no finding unacknowledged, in dev and prod', () => {
    for (const b of [dev, prod, prodOwnDomain])
      for (const report of b.report.pluginReports) {
        expect(report.violations).toEqual([]);
        expect(report.conclusion).toBe('success');
      }
  });

  it('acknowledges the key’s rotation, the failure queues and the public route, each with a reason', () => {
    const ours = findings(prod).filter(
      (f) =>
        f.path.startsWith('Messaging-prod-Notifications/') ||
        (f.id.endsWith('APIG4') && f.path.startsWith('Messaging-prod-HttpApi/')),
    );
    expect(ours.map((f) => `${f.path.replace(/\/Resource$/, '')} ${f.id}`).sort()).toEqual(
      [
        'Messaging-prod-HttpApi/Api/GET--v1--notifications--unsubscribe AwsSolutions::AwsSolutions-APIG4',
        'Messaging-prod-HttpApi/Api/POST--v1--notifications--unsubscribe AwsSolutions::AwsSolutions-APIG4',
        'Messaging-prod-Notifications/FeedbackDeliveryFailures AwsSolutions::AwsSolutions-SQS3',
        'Messaging-prod-Notifications/FeedbackProcessingFailures AwsSolutions::AwsSolutions-SQS3',
        'Messaging-prod-Notifications/RelayFailures AwsSolutions::AwsSolutions-SQS3',
        'Messaging-prod-Notifications/ScheduleFailures AwsSolutions::AwsSolutions-SQS3',
        'Messaging-prod-Notifications/UnsubscribeKey AwsSolutions::AwsSolutions-SMG4',
      ].sort(),
    );
    for (const finding of ours) expect(finding.reason.length, finding.path).toBeGreaterThan(40);
  });
});

describe('where the stack sits in the deployment', () => {
  it('comes after Data, HttpApi and Events, before Observability; nothing of theirs refers to it', () => {
    for (const b of [dev, prod]) {
      const name = (concern: string) => `Messaging-${b.stage}-${concern}`;
      expect(b.dependencies(name('Notifications')).sort()).toEqual(
        [name('Data'), name('HttpApi'), name('Events')].sort(),
      );
      expect(b.dependencies(name('Observability'))).toContain(name('Notifications'));
      for (const other of ['Data', 'Auth', 'Attachments', 'WebSocket', 'HttpApi', 'Events']) {
        expect(b.dependencies(name(other)), other).not.toContain(name('Notifications'));
        expect(
          json(b.templates[(other.charAt(0).toLowerCase() + other.slice(1)) as keyof Templates]),
          other,
        ).not.toContain(name('Notifications'));
      }
      expect(b.stacks.notifications.stackName).toBe(name('Notifications'));
    }
  });
});
