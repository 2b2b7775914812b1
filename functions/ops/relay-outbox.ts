import { EventBridgePublisher } from '../../lib/events/eventbridge-publisher';
import { type RelayRun, relayOutbox } from '../../lib/events/outbox-relay';
import { config, useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/** One client per container (the local stack sets the endpoint before the first call). */
let publisher: EventBridgePublisher | undefined;

/**
 * Publishes the outbox's events to EventBridge: invoked asynchronously by each write that queued
 * some, and every minute for leftovers. Concurrent runs split the work (lib/messaging/outbox.ts).
 */
export const handler = async (): Promise<RelayRun> => {
  const { outgoingEvents } = config;
  publisher ??= new EventBridgePublisher({
    source: outgoingEvents.source,
    bus: outgoingEvents.bus,
    endpoint: outgoingEvents.endpoint,
  });
  const { domain } = await useRuntime();
  const result = await relayOutbox(domain, publisher, {
    onDeferred: (error) =>
      logger.warn('events not published, retried after their lease', { errorName: (error as Error).name }),
  });
  if (result.claimed) logger.info('events relayed', { ...result });
  return result;
};
