/**
 * A small SQL scanner that finds parameter placeholders outside string literals, quoted
 * identifiers, dollar-quoted bodies and comments. Kysely compiles parameters as `$1, $2, …`;
 * the Data API takes named parameters (`:name`). The Data API dialect rewrites one way and the
 * test stand-in of the Data API rewrites back, so both must agree on what is a placeholder.
 */
export type Placeholder =
  | { kind: 'positional'; start: number; end: number; index: number }
  | { kind: 'named'; start: number; end: number; name: string };

const identStart = /[A-Za-z_]/;
const identPart = /[A-Za-z0-9_]/;

export function findPlaceholders(sql: string): Placeholder[] {
  const found: Placeholder[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      i = skipQuoted(sql, i, ch);
    } else if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (ch === '$') {
      const digits = /^\$(\d+)/.exec(sql.slice(i));
      if (digits) {
        found.push({ kind: 'positional', start: i, end: i + digits[0].length, index: Number(digits[1]) });
        i += digits[0].length;
        continue;
      }
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag && !identPart.test(sql[i - 1] ?? ' ')) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? sql.length : close + tag[0].length;
      } else {
        i += 1;
      }
    } else if (ch === ':') {
      if (next === ':') {
        i += 2; // a `::type` cast
      } else if (next !== undefined && identStart.test(next) && sql[i - 1] !== ':') {
        let end = i + 2;
        while (end < sql.length && identPart.test(sql[end]!)) end += 1;
        found.push({ kind: 'named', start: i, end, name: sql.slice(i + 1, end) });
        i = end;
      } else {
        i += 1;
      }
    } else {
      i += 1;
    }
  }
  return found;
}

function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) {
        i += 2; // doubled quote inside the literal
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  return sql.length;
}

/** Replaces each placeholder found by `findPlaceholders` with what `replace` returns. */
export function rewritePlaceholders(sql: string, replace: (placeholder: Placeholder) => string): string {
  let out = '';
  let last = 0;
  for (const placeholder of findPlaceholders(sql)) {
    out += sql.slice(last, placeholder.start) + replace(placeholder);
    last = placeholder.end;
  }
  return out + sql.slice(last);
}
