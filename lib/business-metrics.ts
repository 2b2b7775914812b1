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
} as const;
