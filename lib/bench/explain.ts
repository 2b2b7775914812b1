import { type Dialect, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema';
import { interceptingDialect } from '../db/statement-counter';
import { MessagingService } from '../messaging/messaging-service';
import type { Caller } from '../messaging/types';

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statements the service really sends for the inbox and a
 * message page: the service runs against a dialect that turns its next statement into an EXPLAIN
 * and keeps the plan, so the report shows the plan of the exact SQL, parameters included.
 */
export async function explainHotQueries(
  url: string,
  ids: { heavyUser: string; longConversation: string; longMember: string; anchor: string },
): Promise<Record<string, string>> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const plans: Array<{ name: string; plan: string }> = [];
  const db = new Kysely<Database>({ dialect: explaining(new PostgresDialect({ pool }), plans) });
  const service = new MessagingService(db);
  const caller = (userId: string): Caller => ({ userId, role: 'user', isAdmin: false });
  // Keyed by the statement's own name (its leading comment), as pg_stat_statements shows it.
  const result: Record<string, string> = {};
  const capture = async (what: string, run: () => Promise<unknown>) => {
    plans.length = 0;
    await run().catch(() => undefined); // the service cannot read a plan as rows; the plan is what we want
    result[`${plans.map((p) => p.name).join(', ')}: ${what}`] = plans.map((p) => p.plan).join('\n');
  };
  await capture('inbox of a heavy user (GET /v1/messages/conversations?limit=20)', () =>
    service.listConversations(caller(ids.heavyUser), {}, { limit: 20, offset: 0 }),
  );
  await capture('message page in a 50,000-message conversation (GET …/messages?limit=50&before=…)', () =>
    service.listMessages(caller(ids.longMember), ids.longConversation, { limit: 50, offset: 0, before: ids.anchor }),
  );
  await db.destroy();
  return result;
}

/** Turns each statement into EXPLAIN (ANALYZE, BUFFERS) of itself and keeps the plan. */
function explaining(inner: Dialect, plans: Array<{ name: string; plan: string }>): Dialect {
  return interceptingDialect(inner, {
    async statement(query, execute) {
      const result = await execute({ ...query, sql: `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${query.sql}` });
      const name = /^\s*\/\*\s*([\w.]+)\s*\*\//.exec(query.sql)?.[1] ?? 'unnamed statement';
      plans.push({
        name,
        plan: (result.rows as Array<{ 'QUERY PLAN': string }>).map((r) => r['QUERY PLAN']).join('\n'),
      });
      return { rows: [] };
    },
  });
}
