import type { EventBridgeEvent } from 'aws-lambda';
import { suppressEmailAddresses } from '../../lib/messaging/users';
import { useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/**
 * SES's events through EventBridge (the configuration set's event destination): a permanent
 * bounce or a complaint turns email off for every user at those addresses. A transient bounce
 * (a full mailbox) changes nothing. Any other event is refused, so a wrong rule shows in the
 * failure queue rather than silently.
 */
interface SesEventDetail {
  eventType?: string;
  bounce?: { bounceType?: string; bouncedRecipients?: Array<{ emailAddress?: string }> };
  complaint?: { complainedRecipients?: Array<{ emailAddress?: string }> };
}

export const handler = async (
  event: EventBridgeEvent<string, SesEventDetail>,
): Promise<{ suppressed: number; addresses: number }> => {
  if (event?.source !== 'aws.ses') throw new Error(`not an SES event: source ${String(event?.source)}`);
  const detail = event.detail ?? {};
  const addresses =
    event['detail-type'] === 'Email Bounced'
      ? detail.bounce?.bounceType === 'Permanent'
        ? (detail.bounce.bouncedRecipients ?? []).map((r) => r.emailAddress ?? '')
        : []
      : event['detail-type'] === 'Email Complaint Received'
        ? (detail.complaint?.complainedRecipients ?? []).map((r) => r.emailAddress ?? '')
        : null;
  if (addresses === null) throw new Error(`not a bounce or complaint: ${event['detail-type']}`);
  const { domain } = await useRuntime();
  const suppressed = await suppressEmailAddresses(domain, addresses.filter(Boolean));
  logger.info('email feedback applied', { eventId: event.id, detailType: event['detail-type'], suppressed });
  return { suppressed, addresses: addresses.length };
};
