import { claimDigests, type DigestOutcome, type DigestSettings, settleDigests } from '../messaging/digests';
import type { Domain } from '../messaging/sql';
import { digestEmail } from './digest-email';
import { type Mailer, MailRefusedError } from './mailer';

export interface DigestRun {
  claimed: number;
  sent: number;
  /** Refused for good by the provider: recorded as failed. */
  refused: number;
  /** Failed for now: left claimed, sent by a later sweep once the lease ends. */
  deferred: number;
}

/**
 * One sweep: claim due digests (one statement), send each, record what was sent or refused (one
 * statement), and go on while a claim came back full, within `rounds`. A send that fails for now
 * is not recorded: its email stays claimed until the lease ends and a later sweep sends it.
 */
export async function sendDueDigests(
  d: Domain,
  mailer: Mailer,
  options: {
    from: string;
    settings: DigestSettings;
    unsubscribeUrl: (userId: string) => Promise<string>;
    rounds?: number;
    onDeferred?: (digestId: string, error: unknown) => void;
  },
): Promise<DigestRun> {
  const run: DigestRun = { claimed: 0, sent: 0, refused: 0, deferred: 0 };
  for (let round = 0; round < (options.rounds ?? 10); round++) {
    const digests = await claimDigests(d, options.settings);
    run.claimed += digests.length;
    const outcomes = await Promise.all(
      digests.map(async (digest): Promise<DigestOutcome | null> => {
        try {
          const mail = digestEmail({
            to: digest.recipient,
            from: options.from,
            content: digest.content,
            unsubscribeUrl: await options.unsubscribeUrl(digest.userId),
          });
          const { messageId } = await mailer.send(mail);
          run.sent++;
          return { id: digest.id, messageId };
        } catch (error) {
          if (error instanceof MailRefusedError) {
            run.refused++;
            return { id: digest.id, failure: error.message };
          }
          run.deferred++;
          options.onDeferred?.(digest.id, error);
          return null;
        }
      }),
    );
    await settleDigests(
      d,
      outcomes.filter((o): o is DigestOutcome => o !== null),
    );
    if (digests.length < options.settings.batch) break;
  }
  return run;
}
