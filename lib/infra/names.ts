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
