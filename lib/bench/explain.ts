import { Kysely, PostgresDialect, type Dialect } from 'kysely';
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
  const plans: string[] = [];
  const db = new Kysely<Database>({ dialect: explaining(new PostgresDialect({ pool }), plans) });
  const service = new MessagingService(db);
  const caller = (userId: string): Caller => ({ userId, role: 'user', isAdmin: false });
  const capture = async (run: () => Promise<unknown>) => {
    plans.length = 0;
    await run().catch(() => undefined); // the service cannot read a plan as rows; the plan is what we want
    return plans.join('\n');
  };
  const result = {
    'inbox of a heavy user (GET /v1/messages/conversations?limit=20)': await capture(() =>
      service.listConversations(caller(ids.heavyUser), {}, { limit: 20, offset: 0 }),
    ),
    'message page in a 50,000-message conversation (GET …/messages?limit=50&before=…)': await capture(() =>
      service.listMessages(caller(ids.longMember), ids.longConversation, { limit: 50, offset: 0, before: ids.anchor }),
    ),
  };
  await db.destroy();
  return result;
}

/** Turns each statement into EXPLAIN (ANALYZE, BUFFERS) of itself and keeps the plan. */
function explaining(inner: Dialect, plans: string[]): Dialect {
  return interceptingDialect(inner, {
    async statement(query, execute) {
      const result = await execute({ ...query, sql: `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${query.sql}` });
      plans.push((result.rows as Array<{ 'QUERY PLAN': string }>).map((r) => r['QUERY PLAN']).join('\n'));
      return { rows: [] };
    },
  });
}
