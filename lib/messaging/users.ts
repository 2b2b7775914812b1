import { sql } from 'kysely';
import { uuid } from '../db/casts';
import type { ParticipantRole } from '../db/schema';
import type { Domain } from './sql';

/** Users: the projection of Cognito's users that conversations refer to. */

/** Records a user the first time they are seen, and keeps their role current (promoted or demoted). */
export async function recordUser(d: Domain, userId: string, role: ParticipantRole): Promise<void> {
  await sql`/* users.record */
    INSERT INTO users (id, role) VALUES (${uuid(userId)}, ${role})
    ON CONFLICT (id) DO UPDATE SET role = excluded.role WHERE users.role IS DISTINCT FROM excluded.role
  `.execute(d.db);
}
