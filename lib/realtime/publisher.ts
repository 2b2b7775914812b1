import type { Push } from './frames';

/**
 * Sends a write's frame to the connections its statement returned: an explicit step after the
 * write, as Mattermost's app layer publishes after the store. Best effort: the change is already
 * stored, so a failed push never fails the request (publish never throws); the connections API
 * Gateway calls gone (410) are returned, and the caller removes them from the registry.
 */
export interface Publisher {
  publish(push: Push): Promise<PublishOutcome>;
}

export interface PublishOutcome {
  delivered: number;
  /** Connections API Gateway answered 410 Gone for: closed, to be removed from the registry. */
  gone: string[];
  failed: number;
}

/** For functions without the connections binding (and PGlite tests): pushes nothing. */
export const silentPublisher: Publisher = {
  publish: async () => ({ delivered: 0, gone: [], failed: 0 }),
};
