import { push } from '../../lib/messaging/push';
import type { Domain } from '../../lib/messaging/sql';
import type { ServerFrame } from '../../lib/realtime/frames';
import { fanoutPayloadSchema } from '../../lib/realtime/lambda-fanout-publisher';
import { config, managementPublisherOf, useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/** The shared domain with the management API's publisher: this function pushes, it never hands on. */
let domain: Domain | undefined;

/**
 * The asynchronous fan-out (lib/realtime/lambda-fanout-publisher.ts): invoked with a write's push,
 * after the write answered; makes its PostToConnection calls and forgets the connections API
 * Gateway calls gone, as the write would have inside the request. A malformed payload is logged
 * and dropped: retrying it would fail the same way.
 */
export const handler = async (event: unknown): Promise<void> => {
  const parsed = fanoutPayloadSchema.safeParse(event);
  if (!parsed.success) {
    logger.error('malformed push', { problems: parsed.error.issues.length });
    return;
  }
  domain ??= { ...(await useRuntime()).domain, publisher: managementPublisherOf(config.webSocketManagementEndpoint) };
  await push(domain, parsed.data.connectionIds, parsed.data.frame as ServerFrame);
};
