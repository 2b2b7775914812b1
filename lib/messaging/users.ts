import { sql } from 'kysely';
import { uuid } from '../db/casts';
import type { ParticipantRole } from '../db/schema';
import type { Domain } from './sql';

/** Users: the projection of Cognito's users that conversations refer to. */

/**
 * A user who just signed up, before their first call: recorded as a `user` unless already known.
 * Never overwrites a role: the groups, and so the role, arrive with the user's tokens.
 */
export async function registerUser(d: Domain, userId: string): Promise<void> {
  await sql`/* users.register */
    INSERT INTO users (id, role) VALUES (${uuid(userId)}, 'user') ON CONFLICT (id) DO NOTHING
  `.execute(d.db);
}

/** Records a user the first time they are seen, and keeps their role current (promoted or demoted). */
export async function recordUser(d: Domain, userId: string, role: ParticipantRole): Promise<void> {
  await sql`/* users.record */
    INSERT INTO users (id, role) VALUES (${uuid(userId)}, ${role})
    ON CONFLICT (id) DO UPDATE SET role = excluded.role WHERE users.role IS DISTINCT FROM excluded.role
  `.execute(d.db);
}
