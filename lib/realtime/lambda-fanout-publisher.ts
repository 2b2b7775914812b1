import * as z from 'zod/mini';
import { AsyncInvoker } from '../events/async-invoker';
import type { Push } from './frames';
import type { Publisher, PublishOutcome } from './publisher';

/**
 * The asynchronous fan-out, the alternative to pushing inside the request: the write hands its
 * push to a fan-out function (`Invoke`, `InvocationType: Event`: one HTTPS call, answered once
 * Lambda has queued the invocation), which makes the PostToConnection calls after the response
 * (functions/ops/push-fanout.ts). Chosen by WEBSOCKET_FANOUT_FUNCTION; the stacks push inside the
 * request, and the benchmark measures both (BENCHMARKS.md, "Real-time delivery", says why).
 *
 * Best effort like the inline publisher: a failed hand-over counts as failed for every connection
 * and never fails the write. Gone connections are the fan-out function's to forget.
 *
 * Were it deployed: one invocation per push, so a write whose frame differs per reader (a
 * reaction's `me`) invokes once per participant; Lambda runs asynchronous invocations in no fixed
 * order; and the function's asynchronous retries would have to be off (MaximumRetryAttempts 0),
 * or a retried invocation would send its frames twice.
 */
export class LambdaFanoutPublisher implements Publisher {
  private readonly invoker: AsyncInvoker;

  constructor(
    options: { functionName: string; endpoint?: string },
    private readonly onFailure: (error: unknown) => void = () => {},
  ) {
    // One attempt: a push is worth little late, and the write waits for the hand-over.
    this.invoker = new AsyncInvoker({ ...options, maxAttempts: 1 });
  }

  async publish({ connectionIds, frame }: Push): Promise<PublishOutcome> {
    if (connectionIds.length === 0) return { delivered: 0, gone: [], failed: 0 };
    const payload: FanoutPayload = { connectionIds: [...connectionIds], frame };
    try {
      await this.invoker.invoke(JSON.stringify(payload));
      // Handed over: the fan-out function delivers (or forgets) them.
      return { delivered: connectionIds.length, gone: [], failed: 0 };
    } catch (error) {
      this.onFailure(error);
      return { delivered: 0, gone: [], failed: connectionIds.length };
    }
  }
}

/**
 * What the fan-out function is invoked with: a Push as JSON. The frame is the write's own, passed
 * through as it is; only the envelope is checked at the function's boundary.
 */
export const fanoutPayloadSchema = z.object({
  connectionIds: z.array(z.string().check(z.minLength(1), z.maxLength(128))),
  frame: z.object({ type: z.string().check(z.minLength(1)), data: z.unknown() }),
});

export type FanoutPayload = z.output<typeof fanoutPayloadSchema>;
