import { InvalidInputError } from './errors';

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

export function decodeActivityCursor(raw: string): ActivityCursor {
  const [activityAt, id, ...rest] = Buffer.from(raw, 'base64url').toString('utf8').split('|');
  if (rest.length || !activityAt || !id || !uuidPattern.test(id) || Number.isNaN(Date.parse(activityAt))) {
    throw new InvalidInputError('cursor is not valid', { field: 'cursor' });
  }
  return { activityAt: new Date(activityAt).toISOString(), id };
}
