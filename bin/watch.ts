/**
 * `npm run watch -- --sub <uuid> [--groups admin,agent]`: opens the running local stack's
 * WebSocket API as that user (a token signed as `npm run token` signs it) and prints every frame
 * it receives as one line, until Ctrl-C. It finds the stack as `npm run emit` does (PORT/HOST,
 * else the URLs a running `npm start` recorded in .data/local-stack.json, else 127.0.0.1:3000).
 */
import WebSocket from 'ws';
import { commandLine } from '../lib/local/command-line';
import { discoverLocalStack } from '../lib/local/local-address';
import { localAuthConfig, signLocalToken } from '../lib/local/local-auth';
import { webSocketAuthorizer } from '../lib/realtime/routes';

const usage = `usage: npm run watch -- --sub <uuid> [--groups admin,agent,service_provider]
  --sub     the user id (a UUID) to connect as
  --groups  comma-separated Cognito groups (none: a plain user)
  prints each frame the local stack's WebSocket API sends that user, one per line, until Ctrl-C`;

/**
 * API Gateway closes a connection idle for 10 minutes, and counts only messages, not WebSocket
 * ping control frames: a `ping` action every 5 minutes keeps it open (its pong is printed too).
 */
const KEEPALIVE_MS = 5 * 60 * 1000;

const { sub, values } = commandLine('watch', usage, { sub: { type: 'string' }, groups: { type: 'string' } });

const found = discoverLocalStack();
const token = await signLocalToken(localAuthConfig(), {
  sub,
  groups: (values.groups as string | undefined)
    ?.split(',')
    .map((g) => g.trim())
    .filter(Boolean),
});
const url = new URL(found.webSocketUrl);
url.searchParams.set(webSocketAuthorizer.tokenParameter, token);

const socket = new WebSocket(url);
let keepalive: NodeJS.Timeout | undefined;
let stopping = false;

socket.on('open', () => {
  console.error(`watch: connected to ${found.webSocketUrl} as ${sub} (Ctrl-C to stop)`);
  keepalive = setInterval(() => socket.send(JSON.stringify({ action: 'ping' })), KEEPALIVE_MS);
});
socket.on('message', (data: Buffer) => {
  process.stdout.write(`${data.toString('utf8').replace(/\r?\n/g, ' ')}\n`);
});
socket.on('unexpected-response', (_request, response) => {
  // The handshake was refused (401 from the authorizer, 403, 500): say so in one line.
  console.error(
    `watch: ${found.webSocketUrl} (from ${found.source}) refused the connection: ${response.statusCode} ${response.statusMessage ?? ''}`.trim(),
  );
  process.exit(1);
});
socket.on('error', (error: NodeJS.ErrnoException) => {
  const code = error.code ?? (error.cause as NodeJS.ErrnoException | undefined)?.code;
  console.error(
    code === 'ECONNREFUSED'
      ? `watch: no local stack answers at ${found.webSocketUrl} (from ${found.source}): start it with \`npm start\`, or set PORT`
      : `watch: ${error.message}`,
  );
  process.exit(1);
});
socket.on('close', (code: number, reason: Buffer) => {
  clearInterval(keepalive);
  if (stopping) process.exit(0);
  console.error(`watch: the connection closed (${code}${reason.length ? ` ${reason.toString('utf8')}` : ''})`);
  process.exit(1);
});

const stop = () => {
  stopping = true;
  socket.close(1000);
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
