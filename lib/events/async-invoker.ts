import type { LambdaClient } from '@aws-sdk/client-lambda';
import { NodeSha256 } from '../aws/node-sha256';

/**
 * Invokes one function asynchronously (`InvocationType: Event`: one HTTPS call that returns once
 * Lambda has queued the invocation), through the SDK's Lambda client, made on first use and
 * loaded then, so that only the functions that invoke carry its start-up cost. What the outbox
 * relay's nudge and the asynchronous push fan-out share.
 */
export class AsyncInvoker {
  private client: Promise<LambdaClient> | undefined;

  constructor(private readonly options: { functionName: string; endpoint?: string; maxAttempts: number }) {}

  async invoke(payload: string): Promise<void> {
    const [{ InvokeCommand }, client] = await Promise.all([import('@aws-sdk/client-lambda'), this.clientOnce()]);
    await client.send(
      new InvokeCommand({ FunctionName: this.options.functionName, InvocationType: 'Event', Payload: payload }),
    );
  }

  private clientOnce(): Promise<LambdaClient> {
    const { endpoint, maxAttempts } = this.options;
    this.client ??= import('@aws-sdk/client-lambda').then(
      // NodeSha256: the SDK's own HMAC makes a key object per call (lib/aws/node-sha256.ts).
      ({ LambdaClient }) => new LambdaClient({ maxAttempts, sha256: NodeSha256, ...(endpoint ? { endpoint } : {}) }),
    );
    return this.client;
  }
}
