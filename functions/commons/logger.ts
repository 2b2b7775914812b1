import { businessMetrics, metricsNamespace } from '../../lib/business-metrics';
import { config } from '../../lib/function-config';

/**
 * Structured JSON logs, one object per line. Written to stdout/stderr directly rather than through
 * console, which Lambda prefixes with a timestamp and request id, so every CloudWatch line is pure
 * JSON that Logs Insights parses. Callers pass ids, statuses and timings only: never message
 * content, subjects or tokens.
 *
 * The business metrics ride on these lines in CloudWatch's embedded metric format (EMF): the line
 * that records a fact (a request's status, an event's outcome) also carries the `_aws` block that
 * makes CloudWatch extract a metric from it. No metrics library, no extra call, no extra line.
 * They are info lines (503s are warn): a LOG_LEVEL above info drops them with the line, which is
 * why the stack sets LOG_LEVEL=info.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export const logger = {
  debug: (message: string, fields?: LogFields) => write('debug', message, fields),
  info: (message: string, fields?: LogFields) => write('info', message, fields),
  warn: (message: string, fields?: LogFields) => write('warn', message, fields),
  error: (message: string, fields?: LogFields) => write('error', message, fields),
};

/** Business metrics go to the namespace `Messaging` with the one dimension `Stage`. Set by the stack on every function; `local` for `npm start` and the tests. */
const stage = config.stage;

/**
 * Which metrics a log line stands for, with their counts. `request` lines come from the HTTP
 * middleware once per response with the route id and status; `event projected` lines from the
 * event handlers once per projected event with its outcome; `digests sent` and `events relayed`
 * from the digest sweep and the outbox relay once per run that had work.
 */
export function metricsOf(message: string, fields: LogFields): Record<string, number> {
  const count = (field: unknown) => (typeof field === 'number' ? field : 0);
  if (message === 'request') {
    const found: Record<string, number> = {};
    if (fields.route === 'send-message' && fields.status === 201) found[businessMetrics.messagesSent] = 1;
    if (fields.route === 'send-message' && fields.status === 429) found[businessMetrics.sendsRateLimited] = 1;
    if (fields.status === 503) found[businessMetrics.databaseUnavailable] = 1;
    return found;
  }
  if (message === 'event projected' && typeof fields.applied === 'boolean') {
    return { [fields.applied ? businessMetrics.orderEventsApplied : businessMetrics.orderEventsIgnored]: 1 };
  }
  if (message === 'digests sent') {
    return {
      [businessMetrics.digestsSent]: count(fields.sent),
      [businessMetrics.digestsNotSent]: count(fields.refused) + count(fields.deferred),
    };
  }
  if (message === 'events relayed') return { [businessMetrics.eventsNotPublished]: count(fields.deferred) };
  return {};
}

function write(level: Level, message: string, fields: LogFields = {}) {
  if (order[level] < order[config.logLevel]) return;
  const now = Date.now();
  const record: Record<string, unknown> = { level, message, timestamp: new Date(now).toISOString(), ...fields };
  const metrics = metricsOf(message, fields);
  const names = Object.keys(metrics);
  if (names.length) {
    // EMF: every metric named in the directive must be a number member of the same line, and every
    // dimension a string member (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
    record.Stage = stage;
    for (const name of names) record[name] = metrics[name];
    record._aws = {
      Timestamp: now,
      CloudWatchMetrics: [
        {
          Namespace: metricsNamespace,
          Dimensions: [['Stage']],
          Metrics: names.map((Name) => ({ Name, Unit: 'Count' })),
        },
      ],
    };
  }
  (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${JSON.stringify(record)}\n`);
}
