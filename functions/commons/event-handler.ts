import type { Context, EventBridgeEvent } from 'aws-lambda';
import type * as z from 'zod/mini';
import type { DatabaseHandle } from '../../lib/db/create-database';
import type { EventRule } from '../../lib/events/order-events';
import { announceOrderChange } from '../../lib/messaging/conversations';
import { OrderProjection, type ProjectionOutcome } from '../../lib/messaging/order-projection';
import { INSTANT_DESCRIPTION, isInstant, normaliseInstant } from '../../lib/messaging/time';
import { config, type Runtime, useRuntime } from '../../lib/runtime';
import { logger } from './logger';

export type OrderEvent = EventBridgeEvent<string, unknown>;

/** A detail that does not match its contract: nothing is written and the invocation fails. */
export class MalformedEventError extends Error {
  constructor(
    readonly eventId: string,
    readonly problems: string[],
  ) {
    super(`Malformed event ${eventId}: ${problems.join('; ')}`);
    this.name = 'MalformedEventError';
  }
}

/** What the event functions work with: the shared runtime and the order projection over it. */
export interface EventRuntime extends Runtime {
  orders: OrderProjection;
}

const projections = new WeakMap<DatabaseHandle, OrderProjection>();

/** The order projection is made here, not in lib/runtime.ts, so that HTTP bundles do not carry it. */
async function useEventRuntime(): Promise<EventRuntime> {
  const runtime = await useRuntime();
  let orders = projections.get(runtime.database);
  if (!orders) {
    orders = new OrderProjection(runtime.database.db, config.closingStatuses);
    projections.set(runtime.database, orders);
  }
  return { ...runtime, orders };
}

/**
 * The shared shape of the EventBridge consumers: check the envelope and the detail against the
 * rule's contract, then project. Any failure is thrown, so Lambda retries the asynchronous
 * invocation and then hands the event to the on-failure destination; malformed events are
 * logged with their id (never their content).
 */
export function eventHandler<R extends EventRule>(
  rule: R,
  run: (detail: z.output<R['detail']>, event: OrderEvent, runtime: EventRuntime) => Promise<ProjectionOutcome>,
) {
  return async (event: OrderEvent, context?: Context): Promise<ProjectionOutcome> => {
    const base = { rule: rule.id, eventId: event?.id, requestId: context?.awsRequestId };
    const problems: string[] = [];
    if (event?.source !== config.orderEventSource) problems.push(`source must be ${config.orderEventSource}`);
    if (event?.['detail-type'] !== rule.detailType) problems.push(`detail-type must be ${rule.detailType}`);
    // The same instant rule as every other timestamp: one PostgreSQL accepts (issue 9, defect 5).
    if (!isInstant(event?.time)) problems.push(`time must be an instant: ${INSTANT_DESCRIPTION}`);
    const parsed = rule.detail.safeParse(event?.detail);
    if (!parsed.success)
      problems.push(...parsed.error.issues.map((i) => `${i.path.join('.') || 'detail'}: ${i.message}`));
    if (problems.length) {
      logger.error('malformed event', { ...base, problems: problems.join('; ') });
      throw new MalformedEventError(String(event?.id), problems);
    }
    const runtime = await useEventRuntime();
    const outcome = await run(
      parsed.data as z.output<R['detail']>,
      { ...event, time: normaliseInstant(event.time) },
      runtime,
    );
    const { conversationId, applied, created, posted } = outcome;
    const orderId = (parsed.data as { orderId?: string }).orderId;
    logger.info('event projected', { ...base, orderId, conversationId, applied, created, posted: posted !== null });
    // Then the push and, beside it as after an HTTP write, the relay for the events the projection
    // queued (none when nothing was applied). A failure of either must not make EventBridge retry an
    // event that is already applied: the participants catch up by polling, the schedule relays.
    await Promise.all([
      announceOrderChange(runtime.domain, outcome).catch((error: unknown) => {
        logger.warn('push after event failed', {
          ...base,
          error: error instanceof Error ? error.message : String(error),
        });
      }),
      outcome.applied &&
        runtime.relay.nudge().catch((error: unknown) => {
          logger.warn('outbox relay not invoked', { ...base, errorName: (error as Error).name });
        }),
    ]);
    return outcome;
  };
}
