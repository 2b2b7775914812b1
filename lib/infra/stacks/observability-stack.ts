import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { businessMetrics, metricsNamespace } from '../../business-metrics';
import { routeKey, routeList } from '../../http/routes';
import type { MessagingFunction } from '../messaging-function';
import type { StageConfig } from '../stage-config';

export interface ObservabilityStackProps extends StackProps {
  config: StageConfig;
  /** Every function, by what ops call it. */
  functions: MessagingFunction[];
  apiId: string;
  /** The WebSocket API and its stage (its metrics are per stage). */
  webSocket: { apiId: string; stage: string };
  clusterIdentifier: string;
  /**
   * Every failure queue, by its fixed name (`messaging-<stage>-<what>`): each gets a depth alarm
   * named after it, whose meaning is `alarmMeanings[<what>]`.
   */
  failureQueues: string[];
}

/**
 * SES reputation (account-wide, per region: AWS/SES `Reputation.BounceRate` and
 * `Reputation.ComplaintRate`, fractions). SES reviews an account from a 5% bounce rate and a 0.1%
 * complaint rate, and may pause its sending from 10% and 0.5%: alarm well before review.
 */
export const sesReputationThresholds = { bounceRate: 0.04, complaintRate: 0.0008 } as const;

/** What each alarm means and what to do: the README's runbook has the same list, in more words. */
export const alarmMeanings = {
  'event-delivery-failures':
    'Order events EventBridge could not deliver to our Lambdas: see the runbook, then npm run redrive',
  'event-processing-failures':
    'Order events our Lambdas failed on after retries: see the runbook, then npm run redrive',
  'attachment-check-failures':
    'Uploaded attachments the check failed on after retries (they stay unchecked): see the runbook',
  'attachment-sweep-failures':
    'Hourly attachment sweeps EventBridge Scheduler could not start (the sweep function missing or throttled): see the runbook',
  'notification-schedule-failures':
    'Every-minute digest or outbox-relay runs EventBridge Scheduler could not start (function missing or throttled): see the runbook',
  'outbox-relay-failures':
    'Outbox relay runs that failed or expired; the events stay in the outbox and the next run retries them: see the relay’s errors in the runbook',
  'email-feedback-delivery-failures':
    'SES bounces or complaints EventBridge could not deliver to on-email-feedback (email stays on for those addresses): see the runbook',
  'email-feedback-processing-failures':
    'SES bounces or complaints on-email-feedback failed on after retries (email stays on for those addresses): see the runbook',
  'ses-bounce-rate': `The account's SES bounce rate is above ${sesReputationThresholds.bounceRate * 100}% (SES reviews the account at 5%): see the runbook`,
  'ses-complaint-rate': `The account's SES complaint rate is above ${sesReputationThresholds.complaintRate * 100}% (SES reviews the account at 0.1%): see the runbook`,
  'api-5xx': 'The HTTP API answered 5xx: see the runbook (function errors, database unavailable)',
  'ws-execution-errors':
    'The WebSocket API could not run a route integration (function failed, timed out or was throttled): see the runbook',
  'ws-integration-errors':
    'WebSocket route integrations answered 4xx/5xx more than usual (refused connects, failed frames): see the runbook',
  'database-unavailable': 'Requests answered 503 because the database could not be reached or did not resume in time',
  'digests-not-sent': `More than ${5} digest emails in 5 minutes SES did not take (refused for good, or failing for now: a paused account, throttling): see the runbook`,
  'events-not-published': `More than ${10} outgoing events in 5 minutes EventBridge did not take (they stay in the outbox and are retried): see the runbook`,
  errors: 'A function failed',
  throttles: 'A function was throttled (account or reserved concurrency)',
} as const;

/** WebSocket integration errors (4xx/5xx from a route's Lambda) in 5 minutes above which the alarm fires. */
export const webSocketIntegrationErrorThreshold = 10;

/**
 * Alarms that reach people, and the dashboard. Deployed last: everything it watches exists by then.
 * Functions, queues and the cluster are named by their fixed names, so this stack holds no
 * reference to them and never blocks their removal.
 */
export class ObservabilityStack extends Stack {
  readonly alarmTopic: sns.Topic;
  readonly alarmKey: kms.Key;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityStackProps) {
    super(scope, id, props);
    const { config } = props;
    const alarmPrefix = `messaging-${config.stage}-`;
    // CloudWatch acts for alarms of this account whose names we give, and for nothing else.
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': this.account },
      ArnLike: {
        'aws:SourceArn': `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:${alarmPrefix}*`,
      },
    };

    // ---- the alarm topic ---------------------------------------------------------------------
    // A customer-managed key: CloudWatch cannot use the AWS-managed alias/aws/sns key (its policy
    // cannot be changed), so alarms published to a topic encrypted with it are dropped.
    this.alarmKey = new kms.Key(this, 'AlarmTopicKey', {
      description: `Encrypts the messaging-${config.stage} alarm topic`,
      enableKeyRotation: true,
    });
    this.alarmKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromOurAlarms,
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'Alarms', {
      topicName: `messaging-${config.stage}-alarms`,
      masterKey: this.alarmKey,
      enforceSSL: true,
    });
    // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: without
    // this statement CloudWatch may not publish to it.
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: fromOurAlarms,
      }),
    );
    if (config.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));

    // ---- metrics -----------------------------------------------------------------------------
    const fiveMinutes = Duration.minutes(5);
    const lambdaMetric = (fn: MessagingFunction, metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName,
        dimensionsMap: { FunctionName: fn.fixedName },
        statistic,
        period: fiveMinutes,
      });
    const apiMetric = (metricName: string, statistic: string, route?: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: route
          ? { ApiId: props.apiId, Stage: '$default', Route: route }
          : { ApiId: props.apiId, Stage: '$default' },
        statistic,
        period: fiveMinutes,
      });
    // WebSocket APIs publish per stage: ConnectCount, MessageCount, IntegrationError, ClientError,
    // ExecutionError, IntegrationLatency (dimensions ApiId, Stage).
    const webSocketMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: props.webSocket.apiId, Stage: props.webSocket.stage },
        statistic,
        period: fiveMinutes,
      });
    const queueDepth = (queueName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        dimensionsMap: { QueueName: queueName },
        statistic: 'Maximum',
        period: fiveMinutes,
      });
    const business = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: metricsNamespace,
        metricName,
        dimensionsMap: { Stage: config.stage },
        statistic: 'Sum',
        period: fiveMinutes,
      });
    const aurora = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap: { DBClusterIdentifier: props.clusterIdentifier },
        statistic,
        period: fiveMinutes,
      });

    // The account's sending and reputation (no dimension: SES publishes these per account and region).
    const sesMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({ namespace: 'AWS/SES', metricName, statistic, period: Duration.hours(1) });

    // ---- alarms ------------------------------------------------------------------------------
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string, threshold = 0) =>
      new cloudwatch.Alarm(this, id, {
        alarmName: `${alarmPrefix}${id}`,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(new cloudwatchActions.SnsAction(this.alarmTopic));
    for (const queueName of props.failureQueues) {
      const id = queueName.slice(alarmPrefix.length);
      if (!queueName.startsWith(alarmPrefix) || !(id in alarmMeanings))
        throw new Error(
          `${queueName}: a failure queue needs a name under ${alarmPrefix} and a meaning in alarmMeanings`,
        );
      alarm(id, queueDepth(queueName), alarmMeanings[id as keyof typeof alarmMeanings]);
    }
    alarm('api-5xx', apiMetric('5xx', 'Sum'), alarmMeanings['api-5xx']);
    alarm('ws-execution-errors', webSocketMetric('ExecutionError', 'Sum'), alarmMeanings['ws-execution-errors']);
    // Integration errors include the 4xx a route answers on purpose: alarm on more than a few.
    alarm(
      'ws-integration-errors',
      webSocketMetric('IntegrationError', 'Sum'),
      alarmMeanings['ws-integration-errors'],
      webSocketIntegrationErrorThreshold,
    );
    alarm('database-unavailable', business(businessMetrics.databaseUnavailable), alarmMeanings['database-unavailable']);
    // A failure now and then is retried and harmless; a run of them is an outage of SES or EventBridge.
    alarm('digests-not-sent', business(businessMetrics.digestsNotSent), alarmMeanings['digests-not-sent'], 5);
    alarm(
      'events-not-published',
      business(businessMetrics.eventsNotPublished),
      alarmMeanings['events-not-published'],
      10,
    );
    alarm(
      'ses-bounce-rate',
      sesMetric('Reputation.BounceRate', 'Maximum'),
      alarmMeanings['ses-bounce-rate'],
      sesReputationThresholds.bounceRate,
    );
    alarm(
      'ses-complaint-rate',
      sesMetric('Reputation.ComplaintRate', 'Maximum'),
      alarmMeanings['ses-complaint-rate'],
      sesReputationThresholds.complaintRate,
    );
    for (const fn of props.functions) {
      alarm(`${fn.logicalName}-errors`, lambdaMetric(fn, 'Errors', 'Sum'), `${fn.fixedName}: ${alarmMeanings.errors}`);
      alarm(
        `${fn.logicalName}-throttles`,
        lambdaMetric(fn, 'Throttles', 'Sum'),
        `${fn.fixedName}: ${alarmMeanings.throttles}`,
      );
    }

    // ---- dashboard ---------------------------------------------------------------------------
    const routes = routeList.map(routeKey);
    const wide = { width: 24, height: 6 };
    const half = { width: 12, height: 6 };
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `messaging-${config.stage}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# messaging-${config.stage}\nAlarms go to SNS topic messaging-${config.stage}-alarms; what each means: README, Deploying → Runbook.`,
        width: 24,
        height: 2,
      }),
      new cloudwatch.GraphWidget({
        title: 'Business: messages sent, sends refused by the rate limit, 503s',
        left: [
          business(businessMetrics.messagesSent),
          business(businessMetrics.sendsRateLimited),
          business(businessMetrics.databaseUnavailable),
        ],
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'Business: order events applied / ignored (stale or repeated)',
        left: [business(businessMetrics.orderEventsApplied), business(businessMetrics.orderEventsIgnored)],
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'Business: digest emails sent / not sent, outgoing events not published',
        left: [
          business(businessMetrics.digestsSent),
          business(businessMetrics.digestsNotSent),
          business(businessMetrics.eventsNotPublished),
        ],
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'API requests per route',
        left: routes.map((r) => apiMetric('Count', 'Sum', r).with({ label: r })),
        ...wide,
      }),
      new cloudwatch.GraphWidget({
        title: 'API 4xx per route',
        left: routes.map((r) => apiMetric('4xx', 'Sum', r).with({ label: r })),
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'API 5xx per route',
        left: routes.map((r) => apiMetric('5xx', 'Sum', r).with({ label: r })),
        ...half,
      }),
      ...(['p50', 'p95', 'p99'] as const).map(
        (p) =>
          new cloudwatch.GraphWidget({
            title: `API latency ${p} per route (ms)`,
            left: routes.map((r) => apiMetric('Latency', p, r).with({ label: r })),
            width: 8,
            height: 6,
          }),
      ),
      new cloudwatch.GraphWidget({
        title: 'WebSocket: connects and messages (both ways)',
        left: [webSocketMetric('ConnectCount', 'Sum'), webSocketMetric('MessageCount', 'Sum')],
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'WebSocket: client, integration and execution errors',
        left: [
          webSocketMetric('ClientError', 'Sum'),
          webSocketMetric('IntegrationError', 'Sum'),
          webSocketMetric('ExecutionError', 'Sum'),
        ],
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'WebSocket integration latency (ms)',
        left: (['p50', 'p95', 'p99'] as const).map((p) =>
          webSocketMetric('IntegrationLatency', p).with({ label: `IntegrationLatency ${p}` }),
        ),
        ...wide,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda errors',
        left: props.functions.map((fn) => lambdaMetric(fn, 'Errors', 'Sum').with({ label: fn.logicalName })),
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda duration p95 (ms)',
        left: props.functions.map((fn) => lambdaMetric(fn, 'Duration', 'p95').with({ label: fn.logicalName })),
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda concurrency (max)',
        left: props.functions.map((fn) =>
          lambdaMetric(fn, 'ConcurrentExecutions', 'Maximum').with({ label: fn.logicalName }),
        ),
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failure queues: messages waiting (runbook; order events: npm run redrive)',
        left: props.failureQueues.map((queueName) => queueDepth(queueName)),
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'Email (SES, whole account): sends, bounces, complaints; reputation rates',
        left: ['Send', 'Bounce', 'Complaint'].map((m) => sesMetric(m, 'Sum')),
        right: [sesMetric('Reputation.BounceRate', 'Maximum'), sesMetric('Reputation.ComplaintRate', 'Maximum')],
        ...half,
      }),
      new cloudwatch.GraphWidget({
        title: 'Aurora capacity (ACUs) and utilisation (%)',
        left: [aurora('ServerlessDatabaseCapacity', 'Maximum')],
        right: [aurora('ACUUtilization', 'Maximum')],
        ...half,
      }),
      // The Data API publishes no CloudWatch metric of its own: its failures reach us as 503s
      // (DatabaseUnavailable, above) and as function errors.
      new cloudwatch.GraphWidget({
        title: 'Data API failures: 503s and function errors',
        left: [business(businessMetrics.databaseUnavailable)],
        right: [
          new cloudwatch.MathExpression({
            expression: 'SUM(METRICS())',
            usingMetrics: Object.fromEntries(
              props.functions.map((fn, i) => [`e${i}`, lambdaMetric(fn, 'Errors', 'Sum')]),
            ),
            label: 'all function errors',
            period: fiveMinutes,
          }),
        ],
        ...half,
      }),
    );

    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: `messaging-${config.stage}` });
  }
}
