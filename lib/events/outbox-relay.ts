import { claimOutboxEvents, markOutboxPublished, type OutboxEvent } from '../messaging/outbox';
import type { Domain } from '../messaging/sql';

/** Where the relay puts events: EventBridge's PutEvents (lib/events/eventbridge-publisher.ts). */
export interface EventPublisher {
  /** Puts up to 10 events; resolves with the ids of those EventBridge accepted. */
  put(events: readonly OutboxEvent[]): Promise<{ accepted: string[] }>;
}

export interface RelayRun {
  claimed: number;
  published: number;
  /** Refused by EventBridge or failed in transit: published by a later relay after their lease. */
  deferred: number;
}

/** PutEvents takes at most 10 entries and 256 KB a call. */
const ENTRIES_PER_CALL = 10;
const BYTES_PER_CALL = 256 * 1024;

/**
 * One relay run: claim unpublished events (one statement), put them to EventBridge in calls of at
 * most 10 entries and 256 KB, record the accepted ones as published (one statement), and go on
 * while a claim came back full, within `rounds`. What fails stays claimed until its lease ends.
 */
export async function relayOutbox(
  d: Domain,
  publisher: EventPublisher,
  options: { batch?: number; leaseSeconds?: number; rounds?: number; onDeferred?: (error: unknown) => void } = {},
): Promise<RelayRun> {
  const batch = options.batch ?? 100;
  const run: RelayRun = { claimed: 0, published: 0, deferred: 0 };
  for (let round = 0; round < (options.rounds ?? 10); round++) {
    const events = await claimOutboxEvents(d, { batch, leaseSeconds: options.leaseSeconds ?? 60 });
    run.claimed += events.length;
    const accepted = (
      await Promise.all(
        callsOf(events).map((call) =>
          publisher.put(call).then(
            (result) => result.accepted,
            (error: unknown) => {
              options.onDeferred?.(error);
              return [] as string[];
            },
          ),
        ),
      )
    ).flat();
    run.deferred += events.length - accepted.length;
    run.published += await markOutboxPublished(d, accepted);
    if (events.length < batch) break;
  }
  return run;
}

/** The events in PutEvents calls: at most 10 each, and at most 256 KB each as EventBridge counts it. */
export function callsOf(events: readonly OutboxEvent[]): OutboxEvent[][] {
  const calls: OutboxEvent[][] = [];
  let current: OutboxEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = entrySize(event);
    if (current.length === ENTRIES_PER_CALL || (current.length > 0 && bytes + size > BYTES_PER_CALL)) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length) calls.push(current);
  return calls;
}

/** EventBridge's entry size: Time (14 bytes), Source, DetailType and Detail in UTF-8 (the source is short). */
function entrySize(event: OutboxEvent): number {
  return 14 + 64 + Buffer.byteLength(event.detailType) + Buffer.byteLength(JSON.stringify(event.detail));
}
