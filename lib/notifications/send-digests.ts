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
    /** Emails handed to the provider per second at most (SES's maximum send rate). */
    sendRate: number;
    rounds?: number;
    /** The time left before the run is cut off: no round starts with less than `reserveMs` of it. */
    remainingMs?: () => number;
    reserveMs?: number;
    onDeferred?: (digestId: string, error: unknown) => void;
  },
): Promise<DigestRun> {
  const run: DigestRun = { claimed: 0, sent: 0, refused: 0, deferred: 0 };
  const spacingMs = 1000 / options.sendRate;
  let nextStart = Date.now();
  /** Waits for this send's slot: sends start at most `sendRate` a second. */
  const slot = async () => {
    const at = Math.max(nextStart, Date.now());
    nextStart = at + spacingMs;
    if (at > Date.now()) await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
  };
  for (let round = 0; round < (options.rounds ?? 10); round++) {
    // A run cut off after SES took its emails and before they were recorded would send them again.
    if (options.remainingMs && options.remainingMs() < (options.reserveMs ?? 15_000)) break;
    const digests = await claimDigests(d, options.settings);
    run.claimed += digests.length;
    const outcomes = await Promise.all(
      digests.map(async (digest): Promise<DigestOutcome | null> => {
        try {
          await slot();
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
