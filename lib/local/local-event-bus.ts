import { randomUUID } from 'node:crypto';
import { type EventRule, eventRuleList } from '../events/order-events';
import { isInstant } from '../messaging/time';

/**
 * EventBridge's PutEvents (AWS JSON 1.1), locally: entries are checked as EventBridge checks
 * them, answered with event ids and FailedEntryCount, and matched against the same rules the
 * CDK stack deploys (source + detail-type). Delivery is asynchronous, as in AWS; a failing
 * handler is retried `maxAttempts` times and then recorded, the local stand-in for the
 * on-failure destination, shown at GET /local/events.
 */
export interface LocalEventBusOptions {
  busName: string;
  source: string;
  maxAttempts: number;
  retryDelayMs: number;
  region?: string;
  account?: string;
  deliver: (rule: EventRule, event: EventBridgeEnvelope) => Promise<unknown>;
}

export interface EventBridgeEnvelope {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

export interface FailedDelivery {
  eventId: string;
  rule: string;
  attempts: number;
  error: string;
  at: string;
}

interface PutEventsEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Time?: number | string;
  Resources?: string[];
}

const MAX_ENTRY_BYTES = 256 * 1024;

export class LocalEventBus {
  private readonly pending = new Set<Promise<void>>();
  private delivered = 0;
  private readonly failures: FailedDelivery[] = [];
  /** The events it took, incoming (the order service's) and outgoing (ours), newest last. */
  private readonly recent: EventBridgeEnvelope[] = [];

  constructor(private readonly options: LocalEventBusOptions) {}

  async handleApiCall(
    target: string,
    body: string,
  ): Promise<{ status: number; headers?: Record<string, string>; body: string }> {
    if (target !== 'AWSEvents.PutEvents') {
      return error(400, 'UnknownOperationException', `Operation ${target} is not served locally`);
    }
    let request: { Entries?: PutEventsEntry[] };
    try {
      request = JSON.parse(body) as { Entries?: PutEventsEntry[] };
    } catch {
      return error(400, 'SerializationException', 'The request body is not JSON');
    }
    const entries = request.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10) {
      return error(
        400,
        'ValidationException',
        "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10",
      );
    }
    const results = entries.map((entry) => this.accept(entry));
    return {
      status: 200,
      body: JSON.stringify({ FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results }),
    };
  }

  private accept(entry: PutEventsEntry): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    if (!entry.Source || !entry.DetailType || entry.Detail === undefined) {
      return {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: 'Parameters Source, DetailType and Detail must be specified.',
      };
    }
    const bus = entry.EventBusName;
    if (bus && bus !== this.options.busName && !bus.endsWith(`:event-bus/${this.options.busName}`)) {
      return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${bus} does not exist.` };
    }
    if (Buffer.byteLength(JSON.stringify(entry)) > MAX_ENTRY_BYTES) {
      return {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: 'Total size of the entries in the request is over the limit.',
      };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    const given =
      entry.Time === undefined ? new Date() : new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : entry.Time);
    // An unreadable Time, or one outside years 0001-9999 (which PostgreSQL could not take back), is
    // replaced by the time of receipt, as a missing one is.
    const time = !Number.isNaN(given.getTime()) && isInstant(given.toISOString()) ? given : new Date();
    const event: EventBridgeEnvelope = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: this.options.account ?? '000000000000',
      time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.options.region ?? 'local',
      resources: entry.Resources ?? [],
      detail,
    };
    this.recent.push(event);
    if (this.recent.length > 5000) this.recent.shift();
    for (const rule of eventRuleList) {
      if (event.source === this.options.source && event['detail-type'] === rule.detailType) this.schedule(rule, event);
    }
    return { EventId: event.id };
  }

  private schedule(rule: EventRule, event: EventBridgeEnvelope) {
    const run = (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      let lastError: unknown;
      for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
        try {
          await this.options.deliver(rule, event);
          this.delivered += 1;
          return;
        } catch (e) {
          lastError = e;
          if (attempt < this.options.maxAttempts)
            await new Promise((r) => setTimeout(r, this.options.retryDelayMs * attempt));
        }
      }
      const failure: FailedDelivery = {
        eventId: event.id,
        rule: rule.id,
        attempts: this.options.maxAttempts,
        error: (lastError as Error)?.message ?? String(lastError),
        at: new Date().toISOString(),
      };
      this.failures.push(failure);
      if (this.failures.length > 1000) this.failures.shift();
      console.error(JSON.stringify({ level: 'error', message: 'event delivery failed', ...failure }));
    })();
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  /** Resolves when every delivery scheduled so far has finished (or failed for good). */
  async drain(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  report(): { delivered: number; pending: number; failed: FailedDelivery[]; items: EventBridgeEnvelope[] } {
    return {
      delivered: this.delivered,
      pending: this.pending.size,
      failed: [...this.failures],
      items: [...this.recent],
    };
  }
}

function error(status: number, type: string, message: string) {
  return { status, body: JSON.stringify({ __type: type, message }) };
}
