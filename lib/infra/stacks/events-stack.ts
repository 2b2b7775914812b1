import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { eventRuleList } from '../../events/order-events';
import { failureQueue } from '../failure-queue';
import { type FunctionBinding, MessagingFunction } from '../messaging-function';
import { failureQueueNames } from '../names';
import type { StageConfig } from '../stage-config';

export interface EventsStackProps extends StackProps {
  config: StageConfig;
  database: FunctionBinding;
  orderEvents: FunctionBinding;
  /** PostToConnection on the WebSocket API: the functions push new conversations and system messages. */
  connections: FunctionBinding;
  /**
   * Invoking the outbox relay: the projection writes conversations, participants and system
   * messages, whose domain events it queues in the outbox.
   */
  outboxRelay: FunctionBinding;
}

/** The order-event rules, one Lambda each, and the two failure queues. */
export class EventsStack extends Stack {
  readonly bus: events.IEventBus;
  readonly functions = new Map<string, MessagingFunction>();
  readonly deliveryFailures: sqs.Queue;
  readonly processingFailures: sqs.Queue;

  constructor(scope: Construct, id: string, props: EventsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.bus = config.orderBusName
      ? events.EventBus.fromEventBusName(this, 'OrderBus', config.orderBusName)
      : new events.EventBus(this, 'OrderBus', { eventBusName: `orders-${config.stage}` });
    const names = failureQueueNames(config.stage);
    this.deliveryFailures = failureQueue(this, 'EventDeliveryFailures', names.delivery, removalPolicy);
    this.processingFailures = failureQueue(this, 'EventProcessingFailures', names.processing, removalPolicy);

    for (const rule of eventRuleList) {
      const fn = new MessagingFunction(this, `events-${rule.id}`, {
        stage: config.stage,
        folder: 'events',
        name: rule.id,
        description: `event ${config.orderEventSource} ${rule.detailType}`,
        timeout: Duration.seconds(60),
        removalPolicy,
        bindings: [props.database, props.orderEvents, props.connections, props.outboxRelay],
      });
      this.functions.set(rule.id, fn);
      fn.configureAsyncInvoke({
        onFailure: new destinations.SqsDestination(this.processingFailures),
        retryAttempts: 2,
        maxEventAge: Duration.hours(6),
      });
      new events.Rule(this, `${rule.id}-rule`, {
        eventBus: this.bus,
        description: `${rule.detailType} from ${config.orderEventSource}`,
        eventPattern: { source: [config.orderEventSource], detailType: [rule.detailType] },
        targets: [
          new targets.LambdaFunction(fn, {
            deadLetterQueue: this.deliveryFailures,
            retryAttempts: 185,
            maxEventAge: Duration.hours(24),
          }),
        ],
      });
    }

    new CfnOutput(this, 'EventBusName', { value: this.bus.eventBusName });
    new CfnOutput(this, 'DeliveryFailuresQueueUrl', { value: this.deliveryFailures.queueUrl });
    new CfnOutput(this, 'ProcessingFailuresQueueUrl', { value: this.processingFailures.queueUrl });
  }
}
