import { randomBytes } from 'node:crypto';
import type { PostConfirmationTriggerEvent } from 'aws-lambda';
import { uncounted } from '../db/statement-counter';
import { coalesced } from '../events/coalesced';
import type { RelayRun } from '../events/outbox-relay';
import type { DigestRun } from '../notifications/send-digests';
import { LocalLambda } from './local-lambda';
import { lambdaContext } from './local-server';
import { LocalSes } from './local-ses';

/** The function names the local Lambda endpoint answers to (in AWS the stacks name them). */
export const localFunctionNames = {
  relayOutbox: 'messaging-local-relay-outbox',
  postConfirmation: 'messaging-local-post-confirmation',
  pushFanout: 'messaging-local-push-fanout',
} as const;

/**
 * Email and outgoing events, locally: the SES v2 endpoint that captures mail (GET /local/mail),
 * the Lambda endpoint that the writes invoke the relay through (and, with LOCAL_WS_FANOUT=async,
 * the push fan-out) and `npm run signup` invokes the Cognito trigger through, and the two
 * schedules AWS runs every minute (due digests, leftover events), here every `sweepSeconds`. Each
 * runs the same function as in AWS.
 */
export class LocalNotifications {
  readonly ses: LocalSes;
  readonly lambda: LocalLambda;
  private timer: NodeJS.Timeout | undefined;
  private running = new Set<Promise<unknown>>();

  constructor(region: string, credentials: Record<string, string>) {
    this.ses = new LocalSes({ region, credentials });
    this.lambda = new LocalLambda({
      region,
      credentials,
      functions: {
        [localFunctionNames.relayOutbox]: () => this.relay(),
        [localFunctionNames.postConfirmation]: async (event) => {
          const { handler } = await import('../../functions/cognito/post-confirmation');
          return handler(event as PostConfirmationTriggerEvent, lambdaContext('post-confirmation'));
        },
        // The writes' pushes when LOCAL_WS_FANOUT=async; a function of its own in AWS, so not counted.
        [localFunctionNames.pushFanout]: (payload) =>
          uncounted.run(true, () => import('../../functions/ops/push-fanout').then(({ handler }) => handler(payload))),
      },
    });
  }

  /**
   * One digest sweep, as the schedule runs it (tests call it rather than wait). In AWS a function
   * of its own: its statements are not counted as a request's (/local/stats, the tests' counts).
   */
  sendDigests(): Promise<DigestRun> {
    return this.track(
      uncounted.run(true, () => import('../../functions/ops/send-digests').then(({ handler }) => handler())),
    );
  }

  /**
   * A relay run, as a write's invocation or the schedule runs it; not counted either. In AWS each
   * invocation runs in a container of its own, beside the writers; here they would all share the
   * writers' one process, one run per write. So calls that come while a run is in flight share one
   * more run after it (which sees every event committed before them): none is missed, and the
   * local stack's writes are not slowed by relays AWS would run elsewhere.
   */
  readonly relay: (() => Promise<RelayRun>) & { settled(): Promise<void> } = coalesced(() =>
    this.track(uncounted.run(true, () => import('../../functions/ops/relay-outbox').then(({ handler }) => handler()))),
  );

  start(sweepSeconds: number) {
    this.timer = setInterval(() => {
      const log = (what: string) => (error: unknown) =>
        console.error(JSON.stringify({ level: 'error', message: `${what} failed`, error: String(error) }));
      this.sendDigests().catch(log('digest sweep'));
      this.relay().catch(log('outbox relay'));
    }, sweepSeconds * 1000);
    this.timer.unref();
  }

  async close() {
    clearInterval(this.timer);
    await this.lambda.settled();
    await this.relay.settled();
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private track<T>(run: Promise<T>): Promise<T> {
    this.running.add(run);
    void run.finally(() => this.running.delete(run)).catch(() => {});
    return run;
  }
}

/** A key for unsubscribe links when none is configured: links stop working when the stack restarts. */
export const ephemeralUnsubscribeKey = () => randomBytes(32).toString('base64url');
