export {};

/**
 * `npm start`: the local stack on http://127.0.0.1:3000 (PORT and HOST override).
 * Embedded PGlite under .data/pglite unless DATABASE_URL (or DB_CLUSTER_ARN) says otherwise.
 * Records its URLs (HTTP and WebSocket) in .data/local-stack.json, where `npm run emit` and
 * `npm run watch` find them.
 */
if (!process.env.DATABASE_URL && !process.env.DB_CLUSTER_ARN) process.env.PGLITE_DATA_DIR ??= '.data/pglite';

const { config } = await import('../lib/runtime');
const { createDatabase } = await import('../lib/db/create-database');
const { startLocalStack } = await import('../lib/local/local-stack');
const { clientUrl, forgetRunningStack, listenAddress, recordRunningStack, webSocketUrlOf } = await import(
  '../lib/local/local-address'
);

const { port, host } = listenAddress();
const database = await createDatabase(config.database);
const stack = await startLocalStack(database, { port, host });
const url = clientUrl(host, Number(new URL(stack.url).port));
const webSocketUrl = webSocketUrlOf(url);
recordRunningStack(url, process.env, webSocketUrl);
const where =
  config.database.kind === 'pglite'
    ? `embedded PGlite in ${config.database.dataDir ?? 'memory'}`
    : config.database.kind;

console.log(`Messaging API on ${stack.url}  (database: ${where}; Node ${process.version})
  API docs:     ${url}/docs   (OpenAPI: ${url}/openapi.json)
  Get a token:  TOKEN=$(npm run -s token -- --sub 11111111-1111-4111-8111-111111111111)
  Try it:       curl -s -H "Authorization: Bearer $TOKEN" ${url}/v1/messages/conversations
  Order events: npm run emit -- OrderCreated '{"orderId":"…","userId":"…"}'   (counts and failures: ${url}/local/events)
  WebSocket:    ${webSocketUrl}?token=$TOKEN   (management API: ${url}/ws/@connections/{id})
  Watch pushes: npm run watch -- --sub 11111111-1111-4111-8111-111111111111   (prints each frame as one line)
  Attachments:  bucket ${stack.attachments.name} at ${url}/${stack.attachments.name} (S3, path-style; objects in ${stack.attachments.directory})`);

const stop = async () => {
  forgetRunningStack(url);
  await stack.close();
  await database.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
