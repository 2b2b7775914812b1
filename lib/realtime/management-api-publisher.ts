import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type { Push } from './frames';
import type { Publisher, PublishOutcome } from './publisher';

/**
 * Pushes through API Gateway's management API: one PostToConnection per connection, all in
 * parallel (each is an HTTPS call; a conversation's audience is a few devices per participant).
 * Locally the same client talks to the local stack's management API.
 */
export class ManagementApiPublisher implements Publisher {
  private readonly client: ApiGatewayManagementApiClient;

  constructor(
    endpoint: string,
    private readonly onFailure: (connectionId: string, error: unknown) => void = () => {},
  ) {
    // One retry: a push is worth little late, and the request waits for it.
    this.client = new ApiGatewayManagementApiClient({ endpoint, maxAttempts: 2 });
  }

  async publish({ connectionIds, frame }: Push): Promise<PublishOutcome> {
    const data = new TextEncoder().encode(JSON.stringify(frame));
    const settled = await Promise.allSettled(
      connectionIds.map((id) => this.client.send(new PostToConnectionCommand({ ConnectionId: id, Data: data }))),
    );
    const outcome: PublishOutcome = { delivered: 0, gone: [], failed: 0 };
    settled.forEach((result, i) => {
      const id = connectionIds[i]!;
      if (result.status === 'fulfilled') outcome.delivered++;
      else if (isGone(result.reason)) outcome.gone.push(id);
      else {
        outcome.failed++;
        this.onFailure(id, result.reason);
      }
    });
    return outcome;
  }
}

/** API Gateway's answer for a connection that is closed: GoneException, HTTP 410. */
function isGone(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'GoneException' || e?.$metadata?.httpStatusCode === 410;
}
