import { InvalidInputError } from './errors';
import { parseInstant } from './time';

/**
 * Opaque keyset cursor for conversation lists: the last item's activity time and id.
 * Message lists use message ids as cursors instead (see MessagingService.getConversationMessages).
 */
export interface ActivityCursor {
  activityAt: string;
  id: string;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeActivityCursor(cursor: ActivityCursor): string {
  return Buffer.from(`${cursor.activityAt}|${cursor.id}`, 'utf8').toString('base64url');
}

/**
 * A cursor is opaque but forgeable: its time must pass the same instant rule as `updatedSince`
 * (lib/messaging/time.ts), or PostgreSQL would be handed a year 0000, +275760 or -000001.
 */
export function decodeActivityCursor(raw: string): ActivityCursor {
  const [activityAt, id, ...rest] = Buffer.from(raw, 'base64url').toString('utf8').split('|');
  const at = parseInstant(activityAt);
  if (rest.length || !at || !id || !uuidPattern.test(id)) {
    throw new InvalidInputError('cursor is not valid', { field: 'cursor' });
  }
  return { activityAt: at.toISOString(), id };
}
