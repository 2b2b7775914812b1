import { type EventRule, eventRuleList } from '../events/order-events';

/**
 * Replays the order events waiting in the two failure queues through the handler of their rule:
 * - `delivery` (the rule targets' dead-letter queue): EventBridge could not invoke the Lambda. The
 *   message body is the event itself; attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
 *   EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS say why.
 * - `processing` (the Lambdas' on-failure destination): the Lambda ran and failed after its
 *   retries. The body is Lambda's invocation record: `requestContext` (functionArn, condition,
 *   approximateInvokeCount), `requestPayload` (the event), `responsePayload` (the error).
 *
 * The handlers are idempotent by order id and never let an older status win, so replaying is safe
 * in any order and more than once. A message is deleted only after its replay succeeded; what fails
 * again, or cannot be routed, stays in the queue and is listed. The queue and the replay are
 * passed in (bin/redrive.ts: SQS and a synchronous Lambda invoke; the tests: real handlers).
 */
export type FailureQueueKind = 'delivery' | 'processing';

export interface QueueMessage {
  id: string;
  body: string;
  /** String message attributes. */
  attributes: Record<string, string>;
}

/** The queue at the edge: SQS in bin/redrive.ts. Received messages stay invisible until removed or released. */
export interface FailureQueue {
  receive(max: number): Promise<QueueMessage[]>;
  remove(message: QueueMessage): Promise<void>;
  /** Makes the message visible again now (a dry run, or a replay that failed). */
  release(message: QueueMessage): Promise<void>;
}

export interface OrderEventEnvelope {
  id: string;
  'detail-type': string;
  source: string;
  time: string;
  detail: unknown;
  [key: string]: unknown;
}

export type Replay = (rule: EventRule, event: OrderEventEnvelope) => Promise<void>;

export type Routed =
  | { ok: true; rule: EventRule; event: OrderEventEnvelope; why: string }
  | { ok: false; problem: string };

/** Which rule's handler a failure-queue message belongs to, and the event to give it. */
export function routeFailure(kind: FailureQueueKind, message: QueueMessage): Routed {
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch {
    return { ok: false, problem: 'the body is not JSON' };
  }
  let event: unknown;
  let why: string;
  let functionArn: string | undefined;
  if (kind === 'delivery') {
    event = body;
    why =
      [message.attributes.ERROR_CODE, message.attributes.ERROR_MESSAGE].filter(Boolean).join(': ') || 'not delivered';
  } else {
    const record = body as {
      requestContext?: { functionArn?: string; condition?: string; approximateInvokeCount?: number };
      requestPayload?: unknown;
      responsePayload?: { errorType?: string; errorMessage?: string } | null;
    };
    if (!record?.requestContext || record.requestPayload === undefined)
      return { ok: false, problem: 'not a Lambda invocation record' };
    event = record.requestPayload;
    functionArn = record.requestContext.functionArn;
    why = [record.requestContext.condition, record.responsePayload?.errorType, record.responsePayload?.errorMessage]
      .filter(Boolean)
      .join(': ');
  }
  const envelope = event as Partial<OrderEventEnvelope> | null;
  if (
    !envelope ||
    typeof envelope !== 'object' ||
    typeof envelope['detail-type'] !== 'string' ||
    typeof envelope.id !== 'string'
  ) {
    return { ok: false, problem: 'not an EventBridge event' };
  }
  const rule = eventRuleList.find((r) => r.detailType === envelope['detail-type']);
  if (!rule) return { ok: false, problem: `no rule for detail-type ${envelope['detail-type']}` };
  // `arn:aws:lambda:<region>:<account>:function:messaging-<stage>-<rule id>[:<qualifier>]`
  const failedFunction = functionArn?.split(':')[6];
  if (failedFunction && !failedFunction.endsWith(`-${rule.id}`)) {
    return {
      ok: false,
      problem: `${envelope['detail-type']} failed in ${failedFunction}, which is not the ${rule.id} handler`,
    };
  }
  return { ok: true, rule, event: envelope as OrderEventEnvelope, why };
}

export interface RedriveReport {
  queue: FailureQueueKind;
  replayed: Array<{ messageId: string; eventId: string; rule: string }>;
  /** In a dry run: what would be replayed (nothing is changed). */
  wouldReplay: Array<{ messageId: string; eventId: string; rule: string; why: string }>;
  failed: Array<{ messageId: string; eventId: string; rule: string; error: string }>;
  unroutable: Array<{ messageId: string; problem: string }>;
}

export async function redrive(options: {
  kind: FailureQueueKind;
  queue: FailureQueue;
  replay: Replay;
  dryRun: boolean;
  /** At most this many messages in one run. */
  limit?: number;
}): Promise<RedriveReport> {
  const { kind, queue, replay, dryRun } = options;
  const limit = options.limit ?? 1_000;
  const report: RedriveReport = { queue: kind, replayed: [], wouldReplay: [], failed: [], unroutable: [] };
  const kept: QueueMessage[] = [];
  const seen = new Set<string>();
  let handled = 0;
  try {
    while (handled < limit) {
      const batch = await queue.receive(Math.min(10, limit - handled));
      const fresh = batch.filter((m) => !seen.has(m.id));
      if (!fresh.length) {
        kept.push(...batch.filter((m) => seen.has(m.id)));
        break;
      }
      for (const message of fresh) {
        seen.add(message.id);
        handled += 1;
        const routed = routeFailure(kind, message);
        if (!routed.ok) {
          report.unroutable.push({ messageId: message.id, problem: routed.problem });
          kept.push(message);
          continue;
        }
        const entry = { messageId: message.id, eventId: routed.event.id, rule: routed.rule.id };
        if (dryRun) {
          report.wouldReplay.push({ ...entry, why: routed.why });
          kept.push(message);
          continue;
        }
        try {
          await replay(routed.rule, routed.event);
        } catch (error) {
          report.failed.push({ ...entry, error: (error as Error).message });
          kept.push(message);
          continue;
        }
        await queue.remove(message);
        report.replayed.push(entry);
      }
    }
  } finally {
    // Visible again at once, for the next run or for inspection in the console.
    for (const message of kept) await queue.release(message);
  }
  return report;
}
