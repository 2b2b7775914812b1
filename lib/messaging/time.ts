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
