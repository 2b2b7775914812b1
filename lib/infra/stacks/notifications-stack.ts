import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { failureQueue } from '../failure-queue';
import {
  EnvironmentBinding,
  type FunctionBinding,
  MessagingFunction,
  type UnsubscribeKeyBinding,
} from '../messaging-function';
import { notificationFailureQueueNames, unsubscribeKeySecretName } from '../names';
import { InvokeUnqualified } from '../schedule-target';
import type { StageConfig } from '../stage-config';

export interface NotificationsStackProps extends StackProps {
  config: StageConfig;
  database: FunctionBinding;
  /** The key of unsubscribe links, by its fixed name: the digest function signs them with it. */
  unsubscribeKey: UnsubscribeKeyBinding;
  /** The HTTP API's base URL (no trailing slash), for the unsubscribe links in the digests. */
  apiUrl: string;
}

/** How often the digest sweep and the outbox relay's catch-up run. */
export const notificationRate = Duration.minutes(1);

/** The SES event types the configuration set sends to EventBridge: what turns an address's email off. */
export const emailFeedbackEvents = [ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT];

/** The detail-types SES gives those events on EventBridge: what the feedback rule matches. */
export const emailFeedbackDetailTypes = ['Email Bounced', 'Email Complaint Received'];

/**
 * Notifications: email digests through SES and the outbox relay of outgoing domain events.
 *
 * - SES: the sender's domain identity (created here unless it exists already), a configuration set
 *   whose bounce and complaint events go to the default event bus, and the rule that hands them to
 *   `on-email-feedback` (which turns email off for that address).
 * - `send-digests`, every minute (EventBridge Scheduler): emails each participant their messages
 *   unread for NOTIFY_DELAY_SECONDS, with a signed unsubscribe link. It alone may send, and only from
 *   the identity through the configuration set.
 * - The unsubscribe links' key: a generated secret, read by the digest function and the unsubscribe
 *   route alone (UnsubscribeKeyBinding).
 * - `relay-outbox`: publishes the outbox's domain events to EventBridge. The writers nudge it
 *   asynchronously after a write (OutboxRelayBinding, by its fixed name); every minute a schedule
 *   runs it for whatever a failed or missing nudge left behind. It alone may PutEvents, only to the
 *   configured bus and only with this service's `source`.
 *
 * Deployed after HttpApi (the digests link to its URL) and Events; the writers there name the relay
 * and the secret by their fixed names, so nothing of theirs refers to this stack. Its alarms are the
 * Observability stack's, by fixed names, as everyone's.
 */
export class NotificationsStack extends Stack {
  readonly functions = new Map<string, MessagingFunction>();
  readonly digestFunction: MessagingFunction;
  readonly relayFunction: MessagingFunction;
  readonly feedbackFunction: MessagingFunction;
  /** The sender's identity: created here, or imported when it exists already (config.email.createIdentity). */
  readonly identity: ses.IEmailIdentity;
  readonly identityArn: string;
  readonly configurationSet: ses.ConfigurationSet;
  readonly configurationSetArn: string;
  readonly unsubscribeKey: secretsmanager.Secret;
  readonly feedbackRule: events.Rule;
  readonly digestSchedule: scheduler.Schedule;
  readonly relaySchedule: scheduler.Schedule;
  /** Every-minute runs the scheduler could not deliver (both schedules). */
  readonly scheduleFailures: sqs.Queue;
  /** Relay invocations that failed or expired; the events themselves stay in the outbox. */
  readonly relayFailures: sqs.Queue;
  /** SES events EventBridge could not deliver to the feedback function. */
  readonly feedbackDeliveryFailures: sqs.Queue;
  /** SES events the feedback function failed on after its retries. */
  readonly feedbackProcessingFailures: sqs.Queue;

  constructor(scope: Construct, id: string, props: NotificationsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const queueNames = notificationFailureQueueNames(config.stage);
    this.scheduleFailures = failureQueue(this, 'ScheduleFailures', queueNames.schedules, removalPolicy);
    this.relayFailures = failureQueue(this, 'RelayFailures', queueNames.relay, removalPolicy);
    this.feedbackDeliveryFailures = failureQueue(
      this,
      'FeedbackDeliveryFailures',
      queueNames.feedbackDelivery,
      removalPolicy,
    );
    this.feedbackProcessingFailures = failureQueue(
      this,
      'FeedbackProcessingFailures',
      queueNames.feedbackProcessing,
      removalPolicy,
    );

    // ---- SES -----------------------------------------------------------------------------------
    const configurationSetName = `messaging-${config.stage}-email`;
    this.configurationSet = new ses.ConfigurationSet(this, 'ConfigurationSet', {
      configurationSetName,
      // Per-configuration-set bounce and complaint rates, beside the account's.
      reputationMetrics: true,
      sendingEnabled: true,
      // SES itself drops mail to an address that bounced or complained (the account's suppression
      // list), even before the feedback function has turned its email off.
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
    });
    this.configurationSetArn = this.formatArn({
      service: 'ses',
      resource: 'configuration-set',
      resourceName: configurationSetName,
    });
    // SES publishes to the default bus only. Bounces and complaints alone: they are what the
    // feedback function acts on; deliveries, opens and rejects would be events nobody reads.
    const defaultBus = events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.configurationSet.addEventDestination('ToEventBridge', {
      configurationSetEventDestinationName: 'bounces-and-complaints-to-eventbridge',
      destination: ses.EventDestination.eventBus(defaultBus),
      events: emailFeedbackEvents,
    });
    const { domain } = config.email;
    this.identityArn = this.formatArn({ service: 'ses', resource: 'identity', resourceName: domain });
    if (config.email.createIdentity) {
      // Easy DKIM: the three CNAME records below must be published in the domain's DNS before SES
      // verifies the identity and sends (and, in a new account, SES production access requested).
      const identity = new ses.EmailIdentity(this, 'Identity', {
        identity: ses.Identity.domain(domain),
        configurationSet: this.configurationSet,
      });
      identity.dkimRecords.forEach((record, i) => {
        new CfnOutput(this, `DkimRecord${i + 1}`, {
          description: `CNAME to publish for ${domain} (Easy DKIM)`,
          value: `${record.name} CNAME ${record.value}`,
        });
      });
      this.identity = identity;
    } else {
      // Cognito's verified domain: the identity exists in the account; the digests name the
      // configuration set on every send instead of through the identity's default.
      this.identity = ses.EmailIdentity.fromEmailIdentityName(this, 'Identity', domain);
    }

    // ---- the unsubscribe links' key ---------------------------------------------------------------
    this.unsubscribeKey = new secretsmanager.Secret(this, 'UnsubscribeKey', {
      secretName: unsubscribeKeySecretName(config.stage),
      description: `Keys the unsubscribe links of messaging-${config.stage} email digests (HMAC)`,
      // 64 letters and digits (~380 bits), a plain string: the functions use the value as the key.
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy,
    });

    // ---- the digest sweep ----------------------------------------------------------------------------
    this.digestFunction = new MessagingFunction(this, 'ops-send-digests', {
      stage: config.stage,
      folder: 'ops',
      name: 'send-digests',
      description: 'ops, every minute: email each participant a digest of their unread messages (SES)',
      timeout: Duration.seconds(60),
      removalPolicy,
      bindings: [
        props.database,
        props.unsubscribeKey,
        new EnvironmentBinding({
          EMAIL_FROM: config.email.from,
          SES_CONFIGURATION_SET: configurationSetName,
          PUBLIC_API_URL: props.apiUrl,
          NOTIFY_DELAY_SECONDS: config.notifyDelaySeconds,
          NOTIFY_BATCH: config.notifyBatch,
        }),
      ],
    });
    this.functions.set('send-digests', this.digestFunction);
    // SES v2 SendEmail authorizes on the sending identity and on the configuration set named.
    this.digestFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail'],
        resources: [this.identityArn, this.configurationSetArn],
      }),
    );
    // The secret is named, not referred to: create the function only once it exists.
    this.digestFunction.node.addDependency(this.unsubscribeKey);
    // A failed run is not retried: the next minute's run claims the same digests (they are marked
    // sent only when sent), so no failure record is kept either; the errors alarm tells.
    this.digestFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: notificationRate });
    this.digestSchedule = this.everyMinute('DigestSchedule', this.digestFunction);

    // ---- the outbox relay ------------------------------------------------------------------------------
    this.relayFunction = new MessagingFunction(this, 'ops-relay-outbox', {
      stage: config.stage,
      folder: 'ops',
      name: 'relay-outbox',
      description: 'ops, on a write and every minute: publish the outbox’s domain events to EventBridge',
      timeout: Duration.seconds(60),
      removalPolicy,
      bindings: [
        props.database,
        new EnvironmentBinding({ EVENT_SOURCE: config.eventSource, OUTGOING_EVENT_BUS: config.outgoingEventBus }),
      ],
    });
    this.functions.set('relay-outbox', this.relayFunction);
    this.relayFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [this.busArn(config.outgoingEventBus)],
        // Only events of this service's source, whatever the code puts.
        conditions: { StringEquals: { 'events:source': config.eventSource } },
      }),
    );
    // Nudges carry no events (the outbox does): one that fails is not retried, since the next nudge
    // or the next minute's run publishes the same events; one older than the schedule's period is
    // worthless. What fails is kept (alarmed) as a record of failed runs.
    this.relayFunction.configureAsyncInvoke({
      onFailure: new destinations.SqsDestination(this.relayFailures),
      retryAttempts: 0,
      maxEventAge: notificationRate,
    });
    this.relaySchedule = this.everyMinute('RelaySchedule', this.relayFunction);

    // ---- bounces and complaints ------------------------------------------------------------------------
    this.feedbackFunction = new MessagingFunction(this, 'events-on-email-feedback', {
      stage: config.stage,
      folder: 'events',
      name: 'on-email-feedback',
      description: `event aws.ses ${emailFeedbackDetailTypes.join(' / ')}: turn email off for that address`,
      timeout: Duration.seconds(60),
      removalPolicy,
      bindings: [props.database],
    });
    this.functions.set('on-email-feedback', this.feedbackFunction);
    // As the order-event functions: two retries, then the on-failure queue.
    this.feedbackFunction.configureAsyncInvoke({
      onFailure: new destinations.SqsDestination(this.feedbackProcessingFailures),
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
    });
    this.feedbackRule = new events.Rule(this, 'EmailFeedbackRule', {
      ruleName: `messaging-${config.stage}-email-feedback`,
      description: `SES bounces and complaints of configuration set ${configurationSetName}`,
      eventPattern: {
        source: ['aws.ses'],
        detailType: emailFeedbackDetailTypes,
        // Mail sent through our configuration set alone, not every SES event of the account.
        detail: { mail: { tags: { 'ses:configuration-set': [configurationSetName] } } },
      },
      targets: [
        new targets.LambdaFunction(this.feedbackFunction, {
          deadLetterQueue: this.feedbackDeliveryFailures,
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });

    new CfnOutput(this, 'EmailFrom', { value: config.email.from });
    new CfnOutput(this, 'ConfigurationSetName', { value: configurationSetName });
    new CfnOutput(this, 'UnsubscribeKeySecretName', { value: unsubscribeKeySecretName(config.stage) });
    new CfnOutput(this, 'RelayFunctionName', { value: this.relayFunction.fixedName });
  }

  /** The bus's ARN: given as an ARN, or by name in this account and region (`default` included). */
  private busArn(bus: string): string {
    return bus.startsWith('arn:')
      ? bus
      : this.formatArn({
          service: 'events',
          resource: 'event-bus',
          resourceName: bus,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        });
  }

  /** A schedule that runs the function every minute, retried within that minute, with the dead-letter queue. */
  private everyMinute(id: string, fn: MessagingFunction): scheduler.Schedule {
    return new scheduler.Schedule(this, id, {
      scheduleName: fn.fixedName,
      description: `Every minute: ${fn.fixedName}`,
      schedule: scheduler.ScheduleExpression.rate(notificationRate),
      target: new InvokeUnqualified(fn, {
        deadLetterQueue: this.scheduleFailures,
        retryAttempts: 2,
        maxEventAge: notificationRate,
      }),
    });
  }
}
