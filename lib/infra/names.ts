/**
 * Physical names that the stacks set and that others look up by name: the dashboard and alarms
 * (no cross-stack reference), the runbook, and `npm run redrive`. No CDK import, so the redrive
 * command can load it cheaply.
 */
export function functionName(stage: string, name: string): string {
  return `messaging-${stage}-${name}`;
}

/** The failure queues of the order events. */
export const failureQueueNames = (stage: string) => ({
  /** Events EventBridge could not deliver to a Lambda (the rule targets' dead-letter queue). */
  delivery: `messaging-${stage}-event-delivery-failures`,
  /** Events a Lambda received but failed on after its retries (the on-failure destination). */
  processing: `messaging-${stage}-event-processing-failures`,
});

/** The failure queues of the attachments stack. */
export const attachmentFailureQueueNames = (stage: string) => ({
  /** Upload notifications the check function failed on after its retries (its on-failure destination). */
  check: `messaging-${stage}-attachment-check-failures`,
  /** Hourly sweeps EventBridge Scheduler could not hand to the sweep function (the schedule's dead-letter queue). */
  sweep: `messaging-${stage}-attachment-sweep-failures`,
});

/**
 * The attachments bucket's name: the prefix we give, in the account's regional namespace, where S3
 * appends `-<account>-<region>-an` and no other account can create (or later re-create) the name.
 * The name is known before the bucket exists because the bucket's notification configuration
 * names the check function, whose invoke permission must name the bucket first (S3 checks it when
 * the configuration is set); and the functions of other stacks find it without a cross-stack
 * reference. Pass the stack's own account and region (tokens in an environment-agnostic synth).
 */
export const attachmentsBucketNamePrefix = (stage: string) => `messaging-${stage}-attachments`;

export function attachmentsBucketName(stage: string, account: string, region: string): string {
  return `${attachmentsBucketNamePrefix(stage)}-${account}-${region}-an`;
}

/** Every attachment object's key starts with this (`attachments/<conversationId>/<attachmentId>`): the grants and the notification cover it alone. */
export const attachmentKeyPrefix = 'attachments/';

/** The failure queues of the notifications stack. */
export const notificationFailureQueueNames = (stage: string) => ({
  /** Every-minute runs (digests, outbox relay) EventBridge Scheduler could not hand to their function (the schedules' dead-letter queue). */
  schedules: `messaging-${stage}-notification-schedule-failures`,
  /** Relay invocations that failed or expired (its on-failure destination); the events stay in the outbox. */
  relay: `messaging-${stage}-outbox-relay-failures`,
  /** SES bounce and complaint events EventBridge could not deliver to the feedback function (the rule target's dead-letter queue). */
  feedbackDelivery: `messaging-${stage}-email-feedback-delivery-failures`,
  /** SES bounce and complaint events the feedback function failed on after its retries (its on-failure destination). */
  feedbackProcessing: `messaging-${stage}-email-feedback-processing-failures`,
});

/**
 * The outbox relay's function name. Fixed, so the writers of every stack (HTTP routes, order-event
 * functions) are granted `lambda:InvokeFunction` on it and told its name without a cross-stack
 * reference to the Notifications stack, which deploys after them.
 */
export const outboxRelayFunctionName = (stage: string) => functionName(stage, 'relay-outbox');

/**
 * The unsubscribe-link key's secret name. Fixed, so the unsubscribe route (HttpApi stack, deployed
 * before the Notifications stack that holds the secret) is granted it by name, not by reference.
 */
export const unsubscribeKeySecretName = (stage: string) => `messaging-${stage}-unsubscribe-key`;
