export {};

/**
 * `tsx bin/start-plan.ts`: the plan's naive endpoints (lib/bench/plan-baseline/) behind the local
 * gateway, over DATABASE_URL (or the Data API, DB_CLUSTER_ARN), which must already hold the plan's
 * schema and data: `npm run bench` builds that database and starts this in its own process, as it
 * does the service's stack (bin/start.ts). PORT and HOST as for `npm start`.
 */
if (!process.env.DATABASE_URL && !process.env.DB_CLUSTER_ARN)
  throw new Error('the plan baseline serves an existing database: set DATABASE_URL (or DB_CLUSTER_ARN)');

const { config } = await import('../lib/runtime');
const { createDatabase } = await import('../lib/db/create-database');
const { startPlanStack } = await import('../lib/bench/plan-baseline/stack');
const { listenAddress } = await import('../lib/local/local-address');

const { port, host } = listenAddress();
const database = await createDatabase(config.database);
const stack = await startPlanStack(database, { port, host });
console.log(`Plan baseline API on ${stack.url}  (database: ${config.database.kind})`);

const stop = async () => {
  await stack.close();
  await database.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
