import { frame, type ServerFrame } from '../realtime/frames';
import * as connections from './connections';
import type { Domain } from './sql';
import type { Message } from './types';

/**
 * The step after a write, as Mattermost's app layer publishes after the store: the frame goes to
 * the connections the write's own statement returned, so pushing costs no further database round
 * trip, and a connection API Gateway calls gone is forgotten. Never fails the write: it is stored.
 */
export async function push(d: Domain, connectionIds: readonly string[], serverFrame: ServerFrame): Promise<void> {
  if (connectionIds.length === 0) {
    d.written?.();
    return;
  }
  const published = d.publisher.publish({ connectionIds, frame: serverFrame });
  // The step after the write (the relay's nudge) starts once the pushes' calls are out: they are
  // signed and handed to their sockets in the microtasks and ticks that run before an immediate.
  // People wait for frames; nobody waits for the relay's events, and its call (the SDK's
  // middleware, SigV4) would otherwise be made first, on the same thread.
  if (d.written) setImmediate(d.written);
  const { gone } = await published;
  // Best effort like the push itself: a row left behind expires, and the next push retries it.
  if (gone.length) await connections.forget(d, gone).catch(() => {});
}

/**
 * A Message that differs per reader (its reactions' `me`): each participant's devices get the
 * message as that participant sees it, made from the same row: still no further statement.
 */
export async function pushPerReader(
  d: Domain,
  audienceByUser: Record<string, string[]>,
  seenBy: (viewer: string) => Message,
): Promise<void> {
  await Promise.all(
    Object.entries(audienceByUser).map(([viewer, connectionIds]) =>
      push(d, connectionIds, frame('message.updated', seenBy(viewer))),
    ),
  );
}
