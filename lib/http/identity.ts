import type { ParticipantRole } from '../db/schema';
import type { Caller } from '../messaging/types';

/**
 * The caller, from the claims API Gateway's JWT authorizer passes on. In payload 2.0 every
 * claim value is a string and arrays are flattened: `cognito:groups` arrives as "[admin agent]".
 * A real array (or a JSON array string) is accepted too.
 */
export function callerFromClaims(claims: Record<string, unknown> | undefined): Caller | undefined {
  const sub = claims?.sub;
  if (typeof sub !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sub)) {
    return undefined;
  }
  const groups = parseGroups(claims?.['cognito:groups']);
  const role = roleFromGroups(groups);
  return { userId: sub.toLowerCase(), role, isAdmin: role === 'admin' };
}

export function parseGroups(raw: unknown): string[] {
  if (Array.isArray(raw)) return raw.map(String);
  if (typeof raw !== 'string') return [];
  const trimmed = raw.trim();
  if (trimmed.startsWith('[') && trimmed.includes('"')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // not JSON: fall through to the flattened form
    }
  }
  return trimmed
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .map((g) => g.replace(/^"|"$/g, ''))
    .filter(Boolean);
}

/** The strongest group wins; anyone in none of them is a `user`. */
export function roleFromGroups(groups: string[]): ParticipantRole {
  if (groups.includes('admin')) return 'admin';
  if (groups.includes('agent')) return 'agent';
  if (groups.includes('service_provider')) return 'service_provider';
  return 'user';
}
