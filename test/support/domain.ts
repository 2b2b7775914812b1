import { afterAll, beforeAll } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import type { MessagingLimits } from '../../lib/messaging/limits';
import { MessagingService } from '../../lib/messaging/messaging-service';
import type { Publisher } from '../../lib/realtime/publisher';
import { openPrivateTestDatabase, openTestDatabase } from './test-database';

/**
 * The domain over this run's database, for a test file: opened before its tests, closed after.
 * A send limit high enough for the tests that do not test it; pushes go to `publisher`.
 */
export function domainUnderTest(
  limits: Partial<MessagingLimits> = { sendLimit: 1000, sendWindowSeconds: 10 },
  publisher?: Publisher,
  /** A database of the file's own (openPrivateTestDatabase): for tests of what works on the whole database. */
  privateLabel?: string,
) {
  const domain = {} as { handle: DatabaseHandle; service: MessagingService };
  beforeAll(async () => {
    domain.handle = privateLabel ? await openPrivateTestDatabase(privateLabel) : await openTestDatabase();
    domain.service = new MessagingService(domain.handle.db, limits, publisher);
  });
  afterAll(async () => domain.handle?.close());
  return domain;
}
