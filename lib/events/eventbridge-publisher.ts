import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { NodeSha256 } from '../aws/node-sha256';
import type { OutboxEvent } from '../messaging/outbox';
import type { EventPublisher } from './outbox-relay';

/** The relay's PutEvents, with the real EventBridge client (in AWS, and against the local bus). */
export class EventBridgePublisher implements EventPublisher {
  private client: Promise<EventBridgeClient> | undefined;

  constructor(private readonly options: { source: string; bus: string; endpoint?: string }) {}

  async put(events: readonly OutboxEvent[]): Promise<{ accepted: string[] }> {
    const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    const client = await this.clientOnce();
    const { Entries = [] } = await client.send(
      new PutEventsCommand({
        Entries: events.map((event) => ({
          Source: this.options.source,
          DetailType: event.detailType,
          Detail: JSON.stringify(event.detail),
          EventBusName: this.options.bus,
          Time: new Date(event.createdAt),
        })),
      }),
    );
    // Entries answer in request order; one with an ErrorCode was not accepted.
    return { accepted: events.filter((_, i) => Entries[i]?.EventId && !Entries[i]?.ErrorCode).map((e) => e.id) };
  }

  private clientOnce(): Promise<EventBridgeClient> {
    this.client ??= import('@aws-sdk/client-eventbridge').then(
      ({ EventBridgeClient }) =>
        // NodeSha256: the SDK's own HMAC makes a key object per call (lib/aws/node-sha256.ts).
        new EventBridgeClient({
          sha256: NodeSha256,
          ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
        }),
    );
    return this.client;
  }
}
