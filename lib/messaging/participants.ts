import { sql } from 'kysely';
import { uuid } from '../db/casts';
import { getConversation } from './conversations';
import { ConflictError, ForbiddenError, NotFoundError, RateLimitedError, UnknownUsersError } from './errors';
import { MAX_PARTICIPANTS } from './limits';
import { type ParticipantRow, toParticipant } from './rows';
import { type Domain, retryAfter, visibleTo, windowOf } from './sql';
import type { Caller, Participant } from './types';

/** Participants: adding people and removing them (or leaving). Each operation is one statement. */

type AddOutcome = 'added' | 'present' | 'not_found' | 'unknown_user' | 'full' | 'rate_limited';

/**
 * Adds a user (the function `participants_add`, one statement). Any participant may add to a
 * conversation they are in; admins to any. Adding someone already there is not an error
 * (`added: false`) and consumes nothing. The cap and the caller's rate limit are checked under
 * the conversation's lock, so concurrent adds cannot pass them.
 */
export async function addParticipant(
  d: Domain,
  caller: Caller,
  conversationId: string,
  userId: string,
): Promise<{ participant: Participant; added: boolean }> {
  const { addParticipantLimit, addParticipantWindowSeconds } = d.limits;
  const { rows } = await sql<{
    outcome: AddOutcome;
    retry_after: number | null;
    participant: ParticipantRow | null;
  }>`/* participants.add */
    SELECT outcome, retry_after, participant FROM participants_add(
      ${uuid(conversationId)}, ${uuid(caller.userId)}, ${caller.isAdmin}, ${uuid(userId)},
      ${sql.lit(MAX_PARTICIPANTS)}, ${sql.lit(addParticipantLimit)}, ${windowOf(addParticipantWindowSeconds)})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'added':
    case 'present':
      return { participant: toParticipant(row.participant!), added: row.outcome === 'added' };
    case 'not_found':
      throw new NotFoundError('conversation');
    case 'unknown_user':
      throw new UnknownUsersError([userId]);
    case 'full':
      throw new ConflictError('conversation_full', `A conversation has at most ${MAX_PARTICIPANTS} participants`);
    case 'rate_limited':
      throw new RateLimitedError(retryAfter(row.retry_after, addParticipantWindowSeconds), 'participant additions');
  }
}

/** Removes a participant: anyone may leave; only admins remove others. The removed user loses access at once. */
export async function removeParticipant(
  d: Domain,
  caller: Caller,
  conversationId: string,
  userId: string,
): Promise<void> {
  if (userId !== caller.userId && !caller.isAdmin) {
    // Check visibility first so a non-participant still sees only "not found".
    await getConversation(d, caller, conversationId);
    throw new ForbiddenError('Only admins remove other participants; anyone may remove themselves');
  }
  const { rows } = await sql<{ visible: boolean; removed: boolean }>`/* participants.remove */
    -- Lock order everywhere: the conversation row, then participant rows (as sends do).
    WITH conv AS (
      SELECT c.id FROM conversations c
      WHERE c.id = ${uuid(conversationId)} AND ${visibleTo(caller, sql`c.id`)}
      FOR NO KEY UPDATE OF c
    ),
    del AS (
      DELETE FROM conversation_participants p USING conv
      WHERE p.conversation_id = conv.id AND p.user_id = ${uuid(userId)}
      RETURNING p.conversation_id
    ),
    touch AS (UPDATE conversations c SET updated_at = now() FROM del WHERE c.id = del.conversation_id)
    SELECT EXISTS (SELECT 1 FROM conv) AS visible, EXISTS (SELECT 1 FROM del) AS removed
  `.execute(d.db);
  const row = rows[0]!;
  if (!row.visible) throw new NotFoundError('conversation');
  if (!row.removed) throw new NotFoundError('participant');
}
