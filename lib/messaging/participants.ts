import { sql } from 'kysely';
import { uuid } from '../db/casts';
import { frame } from '../realtime/frames';
import { TYPING_INTERVAL_SECONDS } from '../realtime/routes';
import { getConversation } from './conversations';
import { ConflictError, ForbiddenError, NotFoundError, RateLimitedError, UnknownUsersError } from './errors';
import { MAX_PARTICIPANTS } from './limits';
import { push } from './push';
import { type ParticipantRow, toParticipant } from './rows';
import { audienceOf, audienceWith, type Domain, retryAfter, visibleTo, windowOf } from './sql';
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
    audience: string[] | null;
  }>`/* participants.add */
    SELECT outcome, retry_after, participant, to_json(audience) AS audience FROM participants_add(
      ${uuid(conversationId)}, ${uuid(caller.userId)}, ${caller.isAdmin}, ${uuid(userId)},
      ${sql.lit(MAX_PARTICIPANTS)}, ${sql.lit(addParticipantLimit)}, ${windowOf(addParticipantWindowSeconds)})
  `.execute(d.db);
  const row = rows[0]!;
  switch (row.outcome) {
    case 'added':
    case 'present': {
      const participant = toParticipant(row.participant!);
      if (row.outcome === 'added') {
        const data = { conversationId, userId, role: participant.role };
        await push(d, row.audience ?? [], frame('participant.added', data));
      }
      return { participant, added: row.outcome === 'added' };
    }
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

/**
 * Removes a participant: anyone may leave; only admins remove others. The removed user loses
 * access at once. The audience is everyone still in the conversation once the lock is held, and
 * the removed user, who hears of their removal and of nothing after it.
 */
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
  const { rows } = await sql<{
    visible: boolean;
    removed: boolean;
    audience: string[] | null;
  }>`/* participants.remove */
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
    SELECT EXISTS (SELECT 1 FROM conv) AS visible, EXISTS (SELECT 1 FROM del) AS removed,
      (SELECT ${audienceWith(sql`del.conversation_id`, userId)} FROM del) AS audience
  `.execute(d.db);
  const row = rows[0]!;
  if (!row.visible) throw new NotFoundError('conversation');
  if (!row.removed) throw new NotFoundError('participant');
  await push(d, row.audience ?? [], frame('participant.removed', { conversationId, userId }));
}

type TypingOutcome = 'sent' | 'throttled' | 'not_found' | 'closed';

/**
 * A participant is typing: the other participants hear it, at most once per user and
 * conversation per TYPING_INTERVAL_SECONDS. Nothing is stored but the time of the last one sent
 * (`typing_at`, the throttle), and only in an active conversation the caller is in; admins
 * included only where they take part.
 */
export async function signalTyping(d: Domain, caller: Caller, conversationId: string): Promise<TypingOutcome> {
  const { rows } = await sql<{ outcome: TypingOutcome; audience: string[] | null }>`/* participants.typing */
    WITH me AS (
      SELECT p.conversation_id, c.status FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
      WHERE p.conversation_id = ${uuid(conversationId)} AND p.user_id = ${uuid(caller.userId)}
    ),
    -- A concurrent frame waits for this row and then sees the new typing_at: only one goes out.
    sent AS (
      UPDATE conversation_participants p SET typing_at = now()
      FROM me
      WHERE p.conversation_id = me.conversation_id AND p.user_id = ${uuid(caller.userId)} AND me.status = 'active'
        AND (p.typing_at IS NULL OR p.typing_at <= now() - make_interval(secs => ${sql.lit(TYPING_INTERVAL_SECONDS)}))
      RETURNING p.conversation_id
    )
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM me) THEN 'not_found'
                WHEN (SELECT status FROM me) <> 'active' THEN 'closed'
                WHEN EXISTS (SELECT 1 FROM sent) THEN 'sent'
                ELSE 'throttled' END AS outcome,
      (SELECT ${audienceOf(sql`sent.conversation_id`, caller.userId)} FROM sent) AS audience
  `.execute(d.db);
  const row = rows[0]!;
  await push(d, row.audience ?? [], frame('typing', { conversationId, userId: caller.userId }));
  return row.outcome;
}

/**
 * Mutes or unmutes a conversation for the caller: a muted conversation is never emailed. Only
 * the caller's own participant row changes; anyone else (an admin included) gets 404.
 */
export async function setConversationNotifications(
  d: Domain,
  caller: Caller,
  conversationId: string,
  setting: { muted: boolean },
): Promise<{ conversationId: string; muted: boolean }> {
  const { rows } = await sql<{ muted: boolean }>`/* participants.set_notifications */
    UPDATE conversation_participants SET muted = ${setting.muted}
     WHERE conversation_id = ${uuid(conversationId)} AND user_id = ${uuid(caller.userId)}
    RETURNING muted
  `.execute(d.db);
  if (!rows[0]) throw new NotFoundError('conversation');
  return { conversationId, muted: rows[0].muted };
}
