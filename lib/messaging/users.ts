import { sql } from 'kysely';
import { text, uuid } from '../db/casts';
import type { ParticipantRole } from '../db/schema';
import type { Domain } from './sql';
import type { Caller, Profile, ProfileChange } from './types';

/** Users: the projection of Cognito's users that conversations refer to, with the profile Cognito knows. */

/** What Cognito tells of a user when they confirm their sign-up. */
export interface CognitoProfile {
  email?: string | null;
  displayName?: string | null;
}

/**
 * A user who just signed up, before their first call: recorded as a `user` unless already known,
 * with the email and name Cognito holds. Never overwrites a role: the groups, and so the role,
 * arrive with the user's tokens; a known user's profile is brought up to date.
 */
export async function registerUser(d: Domain, userId: string, profile: CognitoProfile = {}): Promise<void> {
  const email = cleanEmail(profile.email);
  const name = cleanName(profile.displayName);
  await sql`/* users.register */
    INSERT INTO users (id, role, email, display_name) VALUES (${uuid(userId)}, 'user', ${text(email)}, ${text(name)})
    ON CONFLICT (id) DO UPDATE SET email = coalesce(excluded.email, users.email),
                                   display_name = coalesce(excluded.display_name, users.display_name)
      WHERE (excluded.email IS NOT NULL AND excluded.email IS DISTINCT FROM users.email)
         OR (excluded.display_name IS NOT NULL AND excluded.display_name IS DISTINCT FROM users.display_name)
  `.execute(d.db);
}

/** Records a user the first time they are seen, and keeps their role current (promoted or demoted). */
export async function recordUser(d: Domain, userId: string, role: ParticipantRole): Promise<void> {
  await sql`/* users.record */
    INSERT INTO users (id, role) VALUES (${uuid(userId)}, ${role})
    ON CONFLICT (id) DO UPDATE SET role = excluded.role WHERE users.role IS DISTINCT FROM excluded.role
  `.execute(d.db);
}

interface ProfileRow {
  id: string;
  email: string | null;
  display_name: string | null;
  role: ParticipantRole;
  email_notifications: boolean;
}

const toProfile = (row: ProfileRow): Profile => ({
  id: row.id,
  email: row.email,
  displayName: row.display_name,
  role: row.role,
  notifications: { email: row.email_notifications },
});

/** The caller's profile (the HTTP layer recorded the caller before, so the row exists). */
export async function getProfile(d: Domain, caller: Caller): Promise<Profile> {
  const { rows } = await sql<ProfileRow>`/* users.get_profile */
    SELECT id, email, display_name, role, email_notifications FROM users WHERE id = ${uuid(caller.userId)}
  `.execute(d.db);
  return rows[0]
    ? toProfile(rows[0])
    : { id: caller.userId, email: null, displayName: null, role: caller.role, notifications: { email: true } };
}

/** Changes the caller's name or email switch; one statement, which also records an unknown caller. */
export async function updateProfile(d: Domain, caller: Caller, change: ProfileChange): Promise<Profile> {
  const name = change.displayName ?? null;
  const email = change.notifications?.email ?? null;
  const { rows } = await sql<ProfileRow>`/* users.update_profile */
    INSERT INTO users (id, role, display_name, email_notifications)
    VALUES (${uuid(caller.userId)}, ${caller.role}, ${text(name)}, coalesce(${email}::boolean, true))
    ON CONFLICT (id) DO UPDATE SET display_name = coalesce(${text(name)}, users.display_name),
                                   email_notifications = coalesce(${email}::boolean, users.email_notifications)
    RETURNING id, email, display_name, role, email_notifications
  `.execute(d.db);
  return toProfile(rows[0]!);
}

/** Turns email off for a user (the one-click unsubscribe); false when no such user is recorded. */
export async function unsubscribeUser(d: Domain, userId: string): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`/* users.unsubscribe */
    UPDATE users SET email_notifications = false WHERE id = ${uuid(userId)} RETURNING id
  `.execute(d.db);
  return rows.length > 0;
}

/**
 * Turns email off for every user at these addresses: SES reported a bounce or a complaint.
 * Compared case-insensitively (the index is on lower(email)); returns how many users changed.
 */
export async function suppressEmailAddresses(d: Domain, addresses: readonly string[]): Promise<number> {
  const lowered = [...new Set(addresses.map((a) => a.trim().toLowerCase()).filter(Boolean))];
  if (lowered.length === 0) return 0;
  const { rows } = await sql<{ changed: string }>`/* users.suppress_email */
    WITH changed AS (
      UPDATE users SET email_notifications = false
       WHERE lower(email) IN (SELECT jsonb_array_elements_text(cast(${JSON.stringify(lowered)} AS jsonb)))
         AND email_notifications
      RETURNING 1)
    SELECT count(*) AS changed FROM changed
  `.execute(d.db);
  return Number(rows[0]?.changed ?? 0);
}

/** An address as stored: trimmed, within the column's rule, else none (Cognito verified it; we do not guess). */
export function cleanEmail(email: string | null | undefined): string | null {
  const trimmed = email?.trim();
  if (!trimmed || trimmed.length > 254 || !/^[^@\s]+@[^@\s]+$/.test(trimmed)) return null;
  return trimmed;
}

/** A name as stored: trimmed, at most 100 code units, no control or format characters, else none. */
export function cleanName(name: string | null | undefined): string | null {
  const cleaned = name
    ?.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!cleaned?.isWellFormed()) return null;
  let kept = '';
  for (const ch of cleaned) {
    if (kept.length + ch.length > 100) break;
    kept += ch;
  }
  return kept.trim() || null;
}
