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
 *
 * Each runs `runs` times on one session, and the report gives its planning and execution times
 * in three stretches, then the plan of one more run: the first run, which pays for loading the
 * catalog caches (the inbox's first plan took 6.5 ms to plan, against 0.4 ms after); runs 2–6,
 * where a PL/pgSQL function still plans its statements for each call's values (PostgreSQL's plan
 * cache tries five custom plans before it settles on a generic one); and the rest, which is what
 * a connection in use serves. A PL/pgSQL function (messages_page) is one Function Scan to
 * EXPLAIN; on that last run auto_explain, where the server has it, shows the statements the
 * function runs, with their plans.
 */
export async function explainHotQueries(
  url: string,
  ids: { heavyUser: string; longConversation: string; longMember: string; anchor: string },
  runs = 21,
): Promise<Record<string, string>> {
  const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0 });
  const notices: string[] = [];
  pool.on('connect', (client) => client.on('notice', (notice) => notices.push(notice.message ?? '')));
  const nested = await pool
    .query(
      `LOAD 'auto_explain';
       SET auto_explain.log_min_duration = -1; SET auto_explain.log_nested_statements = on;
       SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; SET auto_explain.log_timing = on;
       SET auto_explain.log_level = notice;`,
    )
    .then(
      () => true,
      () => false, // not a superuser, or no auto_explain: the function's inside stays unseen
    );
  const plans: Array<{ name: string; plan: string }> = [];
  const db = new Kysely<Database>({ dialect: explaining(new PostgresDialect({ pool }), plans) });
  const service = new MessagingService(db);
  const caller = (userId: string): Caller => ({ userId, role: 'user', isAdmin: false });
  // Keyed by the statement's own name (its leading comment), as pg_stat_statements shows it.
  const result: Record<string, string> = {};
  const capture = async (what: string, run: () => Promise<unknown>) => {
    const planning: number[] = [];
    const execution: number[] = [];
    for (let i = 0; i <= runs; i++) {
      plans.length = 0;
      notices.length = 0;
      // auto_explain only on the extra last run: its instrumentation and its report would slow the timed ones.
      if (i === runs && nested) await pool.query('SET auto_explain.log_min_duration = 0');
      await run().catch(() => undefined); // the service cannot read a plan as rows; the plan is what we want
      if (i === runs) {
        if (nested) await pool.query('SET auto_explain.log_min_duration = -1');
        break;
      }
      planning.push(sum(plans.map((p) => timeOf(p.plan, 'Planning Time'))));
      execution.push(sum(plans.map((p) => timeOf(p.plan, 'Execution Time'))));
    }
    // The statements run inside a function; auto_explain also reports the EXPLAIN'd statement itself.
    const inside = notices.filter((n) => !/^duration: [\d.]+ ms\s+plan:\s*Query Text: EXPLAIN/.test(n));
    result[`${plans.map((p) => p.name).join(', ')}: ${what}`] = [
      ...plans.map((p) => p.plan),
      `Planning / execution on one session: the first run ${ms(planning[0])} / ${ms(execution[0])}; ` +
        `runs 2–6 (median) ${ms(median(planning.slice(1, 6)))} / ${ms(median(execution.slice(1, 6)))}; ` +
        `runs 7–${runs} (median) ${ms(median(planning.slice(6)))} / ${ms(median(execution.slice(6)))}`,
      ...(nested && plans.some((p) => p.plan.includes('Function Scan'))
        ? ['', 'Inside the function (auto_explain, last run):', ...inside]
        : []),
    ].join('\n');
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

const ms = (n: number | undefined) => `${(n ?? 0).toFixed(3)} ms`;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
/** `Planning Time: 0.123 ms` in an EXPLAIN ANALYZE's text. */
const timeOf = (plan: string, label: string) => Number(new RegExp(`${label}: ([\\d.]+) ms`).exec(plan)?.[1] ?? 0);

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
