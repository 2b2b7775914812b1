export {};

/**
 * `npm start`: the local stack on http://127.0.0.1:3000 (PORT overrides).
 * Embedded PGlite under .data/pglite unless DATABASE_URL (or DB_CLUSTER_ARN) says otherwise.
 */
if (!process.env.DATABASE_URL && !process.env.DB_CLUSTER_ARN) process.env.PGLITE_DATA_DIR ??= '.data/pglite';

const { config } = await import('../functions/commons/config');
const { createDatabase } = await import('../lib/db/create-database');
const { startLocalStack } = await import('../lib/local/local-stack');

const port = Number(process.env.PORT ?? 3000);
const database = await createDatabase(config.database);
const stack = await startLocalStack(database, { port, host: process.env.HOST ?? '127.0.0.1' });
const where =
  config.database.kind === 'pglite' ? `embedded PGlite in ${config.database.dataDir ?? 'memory'}` : config.database.kind;

console.log(`Messaging API on ${stack.url}  (database: ${where})
  API docs:     ${stack.url}/docs   (OpenAPI: ${stack.url}/openapi.json)
  Get a token:  TOKEN=$(npm run -s token -- --sub 11111111-1111-4111-8111-111111111111)
  Try it:       curl -s -H "Authorization: Bearer $TOKEN" ${stack.url}/v1/messages/conversations
  Order events: npm run emit -- OrderCreated '{"orderId":"…","userId":"…"}'   (deliveries: ${stack.url}/local/events)`);

const stop = async () => {
  await stack.close();
  await database.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
