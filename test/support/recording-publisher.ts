import type { Push, ServerFrame } from '../../lib/realtime/frames';
import type { Publisher, PublishOutcome } from '../../lib/realtime/publisher';

/**
 * A Publisher that keeps what it was asked to push, for tests of the domain's audiences (the
 * WebSocket tests use the real management API client against the local stack instead).
 * Connections named in `gone` answer as API Gateway answers for a closed one.
 */
export class RecordingPublisher implements Publisher {
  readonly pushes: Push[] = [];
  readonly gone = new Set<string>();

  async publish(push: Push): Promise<PublishOutcome> {
    this.pushes.push(push);
    const gone = push.connectionIds.filter((id) => this.gone.has(id));
    return { delivered: push.connectionIds.length - gone.length, gone, failed: 0 };
  }

  /** The frames each connection received since the last clear, in order. */
  framesOf(connectionId: string): ServerFrame[] {
    return this.pushes
      .filter((p) => p.connectionIds.includes(connectionId) && !this.gone.has(connectionId))
      .map((p) => p.frame);
  }

  /** Which connections received a frame of this type since the last clear, sorted. */
  recipientsOf(type: ServerFrame['type']): string[] {
    return [...new Set(this.pushes.filter((p) => p.frame.type === type).flatMap((p) => p.connectionIds))].sort();
  }

  clear(): void {
    this.pushes.length = 0;
  }
}
