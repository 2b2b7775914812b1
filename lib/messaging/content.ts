import { InvalidInputError } from './errors';

/**
 * Message content rules. The unit of length is the Unicode code point (what PostgreSQL's
 * `char_length` counts in a UTF-8 database), so an emoji counts once, not as two UTF-16 units.
 */
export const MAX_CONTENT_CODE_POINTS = 10_000;

export type ContentProblem = 'empty' | 'too_long' | 'nul' | 'lone_surrogate';

export function contentProblem(raw: string): ContentProblem | undefined {
  if (!raw.isWellFormed()) return 'lone_surrogate';
  if (raw.includes('\u0000')) return 'nul';
  const trimmed = raw.trim();
  if (trimmed.length === 0) return 'empty';
  if (codePointLength(trimmed) > MAX_CONTENT_CODE_POINTS) return 'too_long';
  return undefined;
}

export const contentProblemMessages: Record<ContentProblem, string> = {
  empty: 'content must not be empty or only white space',
  too_long: `content must be at most ${MAX_CONTENT_CODE_POINTS} Unicode code points`,
  nul: 'content must not contain NUL characters',
  lone_surrogate: 'content must be well-formed Unicode (no lone surrogates)',
};

/** Trims and checks content; stored exactly as returned (never HTML-escaped: escaping is the renderer's job). */
export function normaliseContent(raw: string): string {
  const problem = contentProblem(raw);
  if (problem) throw new InvalidInputError(contentProblemMessages[problem], { field: 'content', problem });
  return raw.trim();
}

export function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** Short texts (subjects, titles, statuses): well-formed Unicode without NUL, which PostgreSQL cannot store. */
export function isPlainText(value: string): boolean {
  return value.isWellFormed() && !value.includes('\u0000');
}
