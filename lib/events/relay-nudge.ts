import { AsyncInvoker } from './async-invoker';
import { coalesced } from './coalesced';

/**
 * What a write does after its statement queued domain events: invoke the relay asynchronously
 * (`InvocationType: Event`, one HTTPS call that returns once Lambda queued the invocation), so
 * events reach EventBridge within a second rather than at the next scheduled sweep. A failure is
 * the caller's to log and never fails the write: the schedule relays the events anyway.
 */
export interface RelayNudge {
  nudge(): Promise<void>;
}

export const noNudge: RelayNudge = { nudge: async () => {} };

export class LambdaRelayNudge implements RelayNudge {
  private readonly invoker: AsyncInvoker;

  constructor(options: { functionName: string; endpoint?: string }) {
    this.invoker = new AsyncInvoker({ ...options, maxAttempts: 2 });
  }

  /**
   * Writes that finish while an invocation is in flight share the next one, sent once it returns:
   * each write still gets an invocation that starts after its commit. A Lambda container serves one
   * request at a time, so in AWS every write sends its own; the local stack's one process serves
   * them all, and would otherwise spend a call per write.
   */
  readonly nudge = coalesced(() => this.invoker.invoke('{}'));
}
