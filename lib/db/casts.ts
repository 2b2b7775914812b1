import { type RawBuilder, sql } from 'kysely';

/**
 * Typed parameters. The Data API sends every string as varchar (`uuid = varchar` does not exist),
 * so SQL that must run on all three back ends casts its uuid, text and timestamp parameters.
 */
export const uuid = (value: string | null | undefined): RawBuilder<string> => sql`cast(${value ?? null} as uuid)`;
export const text = (value: string | null | undefined): RawBuilder<string> => sql`cast(${value ?? null} as text)`;
export const timestamptz = (value: string | null | undefined): RawBuilder<Date> =>
  sql`cast(${value ?? null} as timestamptz)`;

/**
 * A uuid[] parameter, in order. The Data API takes no array parameters, so the ids travel as one
 * JSON text, the way every back end reads it.
 */
export const uuidArray = (values: readonly string[]): RawBuilder<string[]> =>
  sql`ARRAY(SELECT e::uuid FROM jsonb_array_elements_text(cast(${JSON.stringify(values)} as jsonb)) WITH ORDINALITY AS x(e, i) ORDER BY i)`;
