import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { isPlainText } from '../messaging/content';

// zod/mini ships no error messages by default; load English only (all locales would add ~100 KB).
z.config(en());

/** The parts the API schemas and the event contracts share. */
export const uuidOf = (what: string) => z.guid({ error: `${what} must be a UUID` });

/** A short text of at most `max` characters, without NUL (PostgreSQL cannot store it) or lone surrogates. */
export const plainText = (max: number) =>
  z.string().check(z.maxLength(max), z.refine(isPlainText, { error: 'must be well-formed Unicode without NUL characters' }));

/** Registers OpenAPI / JSON Schema metadata (an id makes the schema a named component). */
export function described<T extends z.ZodMiniType>(schema: T, meta: { id?: string; description?: string; maxLength?: number }): T {
  z.globalRegistry.add(schema, meta);
  return schema;
}
