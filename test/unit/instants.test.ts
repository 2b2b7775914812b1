import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../lib/db/create-database';
import { eventJsonSchemas, orderStatusChangedDetail } from '../../lib/events/order-events';
import { buildOpenApiDocument } from '../../lib/http/openapi';
import { listConversationsQuery } from '../../lib/http/schemas';
import { decodeActivityCursor, encodeActivityCursor } from '../../lib/messaging/cursor';
import { InvalidInputError } from '../../lib/messaging/errors';
import { parseInstant } from '../../lib/messaging/time';
import { backend, openTestDatabase } from '../support/test-database';

/**
 * Every instant that validation accepts (query `updatedSince`, conversation cursors,
 * `OrderStatusChanged.changedAt`) must be one PostgreSQL accepts, and mean the same instant
 * there; every other one must be refused before SQL. Checked against this run's real database.
 */
let handle: DatabaseHandle;
beforeAll(async () => {
  handle = await openTestDatabase();
});
afterAll(async () => handle?.close());

/** PostgreSQL's reading of a value, as it would be bound by our SQL (`cast(:p as timestamptz)`). */
async function postgresReads(value: string): Promise<{ ok: true; ms: number } | { ok: false; error: string }> {
  try {
    // The epoch as text: drivers' Date parsing of years below 100 is not what is being checked.
    const { rows } = await sql<{
      s: string;
    }>`SELECT extract(epoch from cast(${value} as timestamptz))::text AS s`.execute(handle.db);
    return { ok: true, ms: Number(rows[0]!.s) * 1000 };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

const cursorOf = (activityAt: string) => Buffer.from(`${activityAt}|${randomUUID()}`, 'utf8').toString('base64url');

/** The three places that accept an instant, each answering whether it accepted `value`. */
const acceptors: Record<string, (value: string) => boolean> = {
  'query updatedSince': (value) => listConversationsQuery.safeParse({ updatedSince: value }).success,
  'event changedAt': (value) =>
    orderStatusChangedDetail.safeParse({ orderId: randomUUID(), status: 'paid', changedAt: value }).success,
  'conversation cursor': (value) => {
    try {
      decodeActivityCursor(cursorOf(value));
      return true;
    } catch (error) {
      if (error instanceof InvalidInputError) return false;
      throw error;
    }
  },
};

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Instants around every boundary: years 0000 to 10000, offsets up to ±23:59, 0 to 10 fraction digits. */
const candidate = fc
  .record({
    year: fc.oneof(
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 1, max: 9999 }),
      fc.integer({ min: 9997, max: 9999 }),
    ),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 31 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fraction: fc.option(fc.stringMatching(/^\d{1,10}$/), { nil: undefined }),
    zone: fc.oneof(
      fc.constant('Z'),
      fc
        .record({
          sign: fc.constantFrom('+', '-'),
          hours: fc.integer({ min: 0, max: 23 }),
          minutes: fc.integer({ min: 0, max: 59 }),
        })
        .map(({ sign, hours, minutes }) => `${sign}${pad(hours, 2)}:${pad(minutes, 2)}`),
    ),
  })
  .map(
    (p) =>
      `${pad(p.year, 4)}-${pad(p.month, 2)}-${pad(p.day, 2)}T${pad(p.hour, 2)}:${pad(p.minute, 2)}:${pad(p.second, 2)}` +
      `${p.fraction === undefined ? '' : `.${p.fraction}`}${p.zone}`,
  );

describe(`instants accepted from outside, on ${backend}`, () => {
  it('refuses the values the issue found failing in SQL, in the query, the cursor and the event contract', async () => {
    const refused = [
      '2026-01-01T00:00:00+16:00',
      '2026-01-01T00:00:00-16:00',
      '2026-01-01T00:00:00+23:59',
      '2026-01-01T00:00:00-23:59',
      '0000-01-01T00:00:00Z',
      '0000-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
      // accepted by an ISO reading, but not an instant PostgreSQL can take back in ISO form
      '0001-01-01T00:00:00+00:01',
      '9999-12-31T23:59:59-00:01',
    ];
    for (const value of refused) {
      for (const [where, accepts] of Object.entries(acceptors)) {
        expect({ value, where, accepted: accepts(value) }).toEqual({ value, where, accepted: false });
      }
    }
    // and these really are values PostgreSQL refuses (or that JavaScript would write unreadably)
    for (const value of [
      '2026-01-01T00:00:00+16:00',
      '2026-01-01T00:00:00-23:59',
      '0000-01-01T00:00:00Z',
      '+275760-09-13T00:00:00.000Z',
    ]) {
      expect((await postgresReads(value)).ok, value).toBe(false);
    }
  });

  it('accepts the edges PostgreSQL accepts: offsets up to ±15:59, years 0001 and 9999, nine fraction digits', async () => {
    for (const value of [
      '2026-01-01T00:00:00+15:59',
      '2026-01-01T00:00:00-15:59',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
      '2024-02-29T12:00:00.123456789+05:30',
    ]) {
      for (const [where, accepts] of Object.entries(acceptors)) {
        expect({ value, where, accepted: accepts(value) }).toEqual({ value, where, accepted: true });
      }
      const read = await postgresReads(value);
      expect(read.ok, value).toBe(true);
    }
  });

  it('normalises to UTC with milliseconds, the same instant PostgreSQL reads', async () => {
    const parsed = listConversationsQuery.parse({ updatedSince: '2026-03-01T01:30:00.1239+05:30' });
    expect(parsed.updatedSince).toBe('2026-02-28T20:00:00.123Z');
    const event = orderStatusChangedDetail.parse({
      orderId: randomUUID(),
      status: 'paid',
      changedAt: '2026-03-01T00:00:00-15:59',
    });
    expect(event.changedAt).toBe('2026-03-01T15:59:00.000Z');
    const id = randomUUID();
    expect(decodeActivityCursor(encodeActivityCursor({ activityAt: '2026-03-01T00:00:00.000Z', id }))).toEqual({
      activityAt: '2026-03-01T00:00:00.000Z',
      id,
    });
  });

  it('every generated instant that validation accepts, PostgreSQL accepts as the same instant; the rest are refused everywhere', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(candidate, async (value) => {
        const verdicts = Object.values(acceptors).map((accepts) => accepts(value));
        expect(new Set(verdicts).size, `the three acceptors disagree on ${value}`).toBe(1);
        if (!verdicts[0]) return;
        accepted += 1;
        const read = await postgresReads(value);
        expect(read, value).toMatchObject({ ok: true });
        // JavaScript keeps milliseconds (truncating), PostgreSQL microseconds (rounding).
        expect(Math.abs((read as { ms: number }).ms - parseInstant(value)!.getTime()), value).toBeLessThanOrEqual(1);
      }),
      { numRuns: 400, seed: Number(process.env.FC_SEED ?? 20260901) },
    );
    expect(accepted).toBeGreaterThan(50);
  });

  it('documents the same rule: the OpenAPI parameter and the event JSON Schema refuse +16:00 and accept +15:59', () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    const doc = buildOpenApiDocument({ serverUrl: '/' }) as any;
    const parameter = doc.paths['/v1/messages/conversations'].get.parameters.find(
      (p: { name: string }) => p.name === 'updatedSince',
    );
    const checkParameter = ajv.compile(parameter.schema);
    const event = eventJsonSchemas().OrderStatusChanged as object;
    const checkEvent = ajv.compile(event);
    const detail = (changedAt: string) => ({ orderId: randomUUID(), status: 'paid', changedAt });
    expect(checkParameter('2026-01-01T00:00:00+15:59')).toBe(true);
    expect(checkParameter('2026-01-01T00:00:00+16:00')).toBe(false);
    expect(checkParameter('0000-01-01T00:00:00Z')).toBe(false);
    expect(checkEvent(detail('2026-01-01T00:00:00-15:59'))).toBe(true);
    expect(checkEvent(detail('2026-01-01T00:00:00-16:00'))).toBe(false);
  });
});
