import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { isPlainText } from '../messaging/content';
import { INSTANT_DESCRIPTION, INSTANT_PATTERN, isInstant, normaliseInstant } from '../messaging/time';

// zod/mini ships no error messages by default; load English only (all locales would add ~100 KB).
z.config(en());

/** The parts the API schemas and the event contracts share. */
export const uuidOf = (what: string) => z.guid({ error: `${what} must be a UUID` });

/** A short text of at most `max` characters, without NUL (PostgreSQL cannot store it) or lone surrogates. */
export const plainText = (max: number) =>
  z
    .string()
    .check(z.maxLength(max), z.refine(isPlainText, { error: 'must be well-formed Unicode without NUL characters' }));

/**
 * An instant accepted from outside (query, event detail): the one rule in lib/messaging/time.ts
 * (offset within ±15:59, year 0001 to 9999, so PostgreSQL accepts every value that passes),
 * decoded to UTC with milliseconds. JSON Schema shows the input pattern (io: 'input').
 */
export const instant = () =>
  z.codec(
    z
      .stringFormat('date-time', new RegExp(INSTANT_PATTERN), {
        error: `must be an ${INSTANT_DESCRIPTION}`,
        abort: true,
      })
      .check(z.refine(isInstant, { error: 'must be an instant between 0001-01-01 and 9999-12-31 UTC' })),
    z.string(),
    { decode: normaliseInstant, encode: (value) => value },
  );

/** Registers OpenAPI / JSON Schema metadata (an id makes the schema a named component). */
export function described<T extends z.ZodMiniType>(
  schema: T,
  meta: { id?: string; description?: string; maxLength?: number },
): T {
  z.globalRegistry.add(schema, meta);
  return schema;
}
