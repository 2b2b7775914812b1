import type { Context } from 'aws-lambda';
import { defaultDigestSettings } from '../../lib/messaging/digests';
import { type DigestRun, sendDueDigests } from '../../lib/notifications/send-digests';
import { SesMailer } from '../../lib/notifications/ses-mailer';
import { unsubscribeUrl } from '../../lib/notifications/unsubscribe';
import { config, useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/** One client per container (the local stack sets the endpoint before the first call). */
let mailer: SesMailer | undefined;

/**
 * On a schedule (every minute in AWS, every NOTIFY_SWEEP_SECONDS locally): emails the digests that
 * are due. Safe to run twice at once and to rerun after a crash (lib/messaging/digests.ts).
 */
export const handler = async (_event?: unknown, context?: Context): Promise<DigestRun> => {
  const { notifications } = config;
  mailer ??= new SesMailer({ endpoint: notifications.endpoint, configurationSet: notifications.configurationSet });
  const from = notifications.from;
  if (!from) throw new Error('EMAIL_FROM is not set: this function sends no email without a sender');
  const { domain } = await useRuntime();
  const result = await sendDueDigests(domain, mailer, {
    from,
    settings: { ...defaultDigestSettings, delaySeconds: notifications.delaySeconds, batch: notifications.batch },
    unsubscribeUrl: (userId) => unsubscribeUrl(notifications, userId),
    sendRate: notifications.sendRate,
    // The function's timeout (60 s) cuts a run off: a round starts only with 15 s left.
    remainingMs: context?.getRemainingTimeInMillis ? () => context.getRemainingTimeInMillis() : undefined,
    onDeferred: (digestId, error) =>
      logger.warn('digest not sent, retried after its lease', { digestId, errorName: (error as Error).name }),
  });
  if (result.claimed) logger[result.deferred || result.refused ? 'warn' : 'info']('digests sent', { ...result });
  return result;
};
