/**
 * The business metrics' names, shared by the logger that emits them (as EMF) and the CDK stack
 * that charts and alarms on them. Kept free of imports so the CDK app can load it cheaply.
 */
export const metricsNamespace = 'Messaging';

export const businessMetrics = {
  messagesSent: 'MessagesSent',
  sendsRateLimited: 'SendsRateLimited',
  databaseUnavailable: 'DatabaseUnavailable',
  orderEventsApplied: 'OrderEventsApplied',
  /** Not newer than what is stored (stale or repeated), or for a deleted order: nothing changed. */
  orderEventsIgnored: 'OrderEventsIgnored',
  /** Digest emails SES took, and those it did not (refused for good, or failed for now and left queued). */
  digestsSent: 'DigestsSent',
  digestsNotSent: 'DigestsNotSent',
  /** Outbox events EventBridge did not take in a relay run (they stay queued and are retried). */
  eventsNotPublished: 'EventsNotPublished',
} as const;
