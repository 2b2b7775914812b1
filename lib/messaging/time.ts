/**
 * Timestamps reach us as Date (node-postgres, PGlite, the Data API dialect) or as strings
 * inside json_build_object (`2026-11-24T03:36:42.123+00:00`). The API always answers in
 * ISO 8601 UTC with milliseconds.
 */
export function toIso(value: Date | string): string {
  const date = value instanceof Date ? value : new Date(hasZone(value) ? value : `${value.replace(' ', 'T')}Z`);
  if (Number.isNaN(date.getTime())) throw new Error(`Not a timestamp: ${String(value)}`);
  return date.toISOString();
}

export function toIsoOrNull(value: Date | string | null | undefined): string | null {
  return value === null || value === undefined ? null : toIso(value);
}

function hasZone(value: string): boolean {
  return /(Z|[+-]\d\d(:?\d\d)?)$/.test(value);
}

// ---- instants we accept from outside ------------------------------------------------------------

/**
 * The one definition of an instant accepted from a client or a producer (query `updatedSince`,
 * conversation cursors, `OrderStatusChanged.changedAt`): ISO 8601 `YYYY-MM-DDTHH:MM:SS[.f]`
 * with `Z` or a `±HH:MM` offset, a real calendar date, at most 9 fraction digits.
 *
 * Every accepted value must be one PostgreSQL accepts, so the bounds are PostgreSQL's and
 * JavaScript's together:
 * - the offset is at most ±15:59 (PostgreSQL refuses `+16:00` … `+23:59` with "time zone
 *   displacement out of range"; ISO 8601 allows up to ±23:59);
 * - the year is 0001 to 9999, before and after conversion to UTC (PostgreSQL has no year 0000
 *   in ISO form, and JavaScript writes years past 9999 or before 0 as `+275760` / `-000001`,
 *   which PostgreSQL does not parse).
 * Accepted values are normalised to UTC with milliseconds (`Date.prototype.toISOString`), which
 * is what reaches SQL. Sub-millisecond digits are dropped: timestamps are stored as
 * `timestamptz(3)`, so for stored values `t > x` equals `t > x truncated to the millisecond`.
 */
const dateSource =
  '(?!0000)(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29' +
  '|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8])))';
const timeSource = '(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?';
const zoneSource = '(?:Z|[+-](?:0\\d|1[0-5]):[0-5]\\d)';

/** The pattern as a string, for OpenAPI and the JSON Schemas (ECMA-262, as JSON Schema patterns are). */
export const INSTANT_PATTERN = `^${dateSource}T${timeSource}${zoneSource}$`;
const instantPattern = new RegExp(INSTANT_PATTERN);

export const INSTANT_DESCRIPTION =
  'ISO 8601 instant with Z or an offset: YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), year 0001 to 9999, offset at most ±15:59.';

// (Date.UTC would read year 1 as 1901.)
const MIN_MS = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** The instant as a Date, or undefined when it is not one we accept (see above). */
export function parseInstant(value: unknown): Date | undefined {
  if (typeof value !== 'string' || !instantPattern.test(value)) return undefined;
  const date = new Date(value);
  const ms = date.getTime();
  if (Number.isNaN(ms) || ms < MIN_MS || ms > MAX_MS) return undefined;
  return date;
}

export function isInstant(value: unknown): value is string {
  return parseInstant(value) !== undefined;
}

/** The accepted instant in UTC with milliseconds (`2026-01-02T03:04:05.678Z`); throws on anything else. */
export function normaliseInstant(value: string): string {
  const date = parseInstant(value);
  if (!date) throw new RangeError('not an accepted instant');
  return date.toISOString();
}
