import type { LambdaClient } from '@aws-sdk/client-lambda';
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
  private client: Promise<LambdaClient> | undefined;

  constructor(private readonly options: { functionName: string; endpoint?: string }) {}

  /**
   * Writes that finish while an invocation is in flight share the next one, sent once it returns:
   * each write still gets an invocation that starts after its commit. A Lambda container serves one
   * request at a time, so in AWS every write sends its own; the local stack's one process serves
   * them all, and would otherwise spend a call per write.
   */
  readonly nudge = coalesced(() => this.invoke());

  private async invoke(): Promise<void> {
    const { InvokeCommand } = await import('@aws-sdk/client-lambda');
    const client = await this.clientOnce();
    await client.send(
      new InvokeCommand({ FunctionName: this.options.functionName, InvocationType: 'Event', Payload: '{}' }),
    );
  }

  private clientOnce(): Promise<LambdaClient> {
    this.client ??= import('@aws-sdk/client-lambda').then(
      ({ LambdaClient }) =>
        new LambdaClient({ maxAttempts: 2, ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}) }),
    );
    return this.client;
  }
}
