import { describe, expect, it } from 'vitest';
import { formatTimestamp, toNamedPlaceholders, toSqlParameter } from '../../lib/db/data-api-dialect';
import { findPlaceholders } from '../../lib/db/placeholders';
import { callerFromClaims, parseGroups, roleFromGroups } from '../../lib/http/identity';
import {
  codePointLength,
  contentProblem,
  MAX_CONTENT_CODE_POINTS,
  normaliseContent,
} from '../../lib/messaging/content';
import { decodeActivityCursor, encodeActivityCursor } from '../../lib/messaging/cursor';
import { InvalidInputError } from '../../lib/messaging/errors';
import { toIso } from '../../lib/messaging/time';

describe('message content', () => {
  it('counts code points, not UTF-16 units', () => {
    expect(codePointLength('😀'.repeat(3))).toBe(3);
    expect(contentProblem('😀'.repeat(MAX_CONTENT_CODE_POINTS))).toBeUndefined();
    expect(contentProblem('😀'.repeat(MAX_CONTENT_CODE_POINTS + 1))).toBe('too_long');
    expect(contentProblem('a'.repeat(MAX_CONTENT_CODE_POINTS + 1))).toBe('too_long');
  });

  it('refuses empty, NUL and lone surrogates, and trims but never escapes', () => {
    expect(contentProblem('   \n')).toBe('empty');
    expect(contentProblem('a\u0000')).toBe('nul');
    expect(contentProblem('a\ud800')).toBe('lone_surrogate');
    expect(contentProblem('\udc00')).toBe('lone_surrogate');
    expect(normaliseContent('  <b>&amp;</b>  ')).toBe('<b>&amp;</b>');
    expect(() => normaliseContent('')).toThrow(InvalidInputError);
  });

  it('counts the limit after trimming', () => {
    expect(contentProblem(` ${'a'.repeat(MAX_CONTENT_CODE_POINTS)} `)).toBeUndefined();
  });
});

describe('identity from API Gateway claims', () => {
  const sub = '6f1c1d2e-8a8b-4c3d-9e0f-123456789abc';
  it('parses cognito:groups flattened, as an array, and as a JSON string', () => {
    expect(parseGroups('[admin agent]')).toEqual(['admin', 'agent']);
    expect(parseGroups(['agent'])).toEqual(['agent']);
    expect(parseGroups('["service_provider","agent"]')).toEqual(['service_provider', 'agent']);
    expect(parseGroups('admin')).toEqual(['admin']);
    expect(parseGroups('[]')).toEqual([]);
    expect(parseGroups(undefined)).toEqual([]);
  });

  it('gives the strongest group as role, and user to anyone else', () => {
    expect(roleFromGroups(['agent', 'admin'])).toBe('admin');
    expect(roleFromGroups(['service_provider', 'agent'])).toBe('agent');
    expect(roleFromGroups(['service_provider'])).toBe('service_provider');
    expect(roleFromGroups(['beta-testers'])).toBe('user');
    expect(callerFromClaims({ sub, 'cognito:groups': '[admin]' })).toEqual({
      userId: sub,
      role: 'admin',
      isAdmin: true,
    });
    expect(callerFromClaims({ sub: 'not-a-uuid' })).toBeUndefined();
    expect(callerFromClaims(undefined)).toBeUndefined();
  });
});

describe('SQL placeholders for the Data API', () => {
  it('rewrites $n outside literals, identifiers, dollar quotes and comments', () => {
    const sql = `select $1, '$2', "a$3", $$ $4 $$, $tag$ $5 $tag$, x::uuid -- $6\n, /* $7 */ $8`;
    expect(toNamedPlaceholders(sql)).toBe(
      `select :p1, '$2', "a$3", $$ $4 $$, $tag$ $5 $tag$, x::uuid -- $6\n, /* $7 */ :p8`,
    );
    expect(
      findPlaceholders("select :a, ':b', x::int, :c_d").map((p) => (p.kind === 'named' ? p.name : p.index)),
    ).toEqual(['a', 'c_d']);
    expect(findPlaceholders("select 'it''s :x', :y").map((p) => (p.kind === 'named' ? p.name : ''))).toEqual(['y']);
  });

  it('types parameters the way the Data API needs them', () => {
    expect(toSqlParameter('p1', 'x')).toEqual({ name: 'p1', value: { stringValue: 'x' } });
    expect(toSqlParameter('p1', 7)).toEqual({ name: 'p1', value: { longValue: 7 } });
    expect(toSqlParameter('p1', 1.5)).toEqual({ name: 'p1', value: { doubleValue: 1.5 } });
    expect(toSqlParameter('p1', null)).toEqual({ name: 'p1', value: { isNull: true } });
    expect(toSqlParameter('p1', true)).toEqual({ name: 'p1', value: { booleanValue: true } });
    expect(toSqlParameter('p1', 2n ** 60n)).toEqual({
      name: 'p1',
      value: { stringValue: '1152921504606846976' },
      typeHint: 'DECIMAL',
    });
    expect(toSqlParameter('p1', new Date('2026-01-02T03:04:05.678Z'))).toEqual({
      name: 'p1',
      value: { stringValue: '2026-01-02 03:04:05.678' },
      typeHint: 'TIMESTAMP',
    });
    expect(toSqlParameter('p1', { a: 1 })).toEqual({ name: 'p1', value: { stringValue: '{"a":1}' }, typeHint: 'JSON' });
    expect(formatTimestamp(new Date(0))).toBe('1970-01-01 00:00:00.000');
  });
});

describe('cursors and timestamps', () => {
  it('round-trips a conversation cursor and refuses a forged one', () => {
    const cursor = { activityAt: '2026-11-24T03:36:42.123Z', id: '6f1c1d2e-8a8b-4c3d-9e0f-123456789abc' };
    expect(decodeActivityCursor(encodeActivityCursor(cursor))).toEqual(cursor);
    expect(() => decodeActivityCursor('garbage')).toThrow(InvalidInputError);
    expect(() => decodeActivityCursor(Buffer.from('yesterday|x').toString('base64url'))).toThrow(InvalidInputError);
  });

  it('reads timestamps from every back end as UTC', () => {
    expect(toIso('2026-11-24 03:36:42.123')).toBe('2026-11-24T03:36:42.123Z');
    expect(toIso('2026-11-24T03:36:42.123+00:00')).toBe('2026-11-24T03:36:42.123Z');
    expect(toIso('2026-11-24T05:36:42.123+02:00')).toBe('2026-11-24T03:36:42.123Z');
    expect(toIso(new Date('2026-11-24T03:36:42.123Z'))).toBe('2026-11-24T03:36:42.123Z');
  });
});
