import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Context } from 'aws-lambda';
import { LocalWebSocketApi } from './local-websocket';
import type { GatewayToStack, StackToGateway, UpgradeRequest } from './websocket-gateway-process';

/**
 * The local WebSocket API in a process of its own (forked by ./websocket-gateway-process.ts): the
 * sockets, their frames and the management API, which API Gateway runs on its own machines. The
 * route Lambdas and the authorizer run in the local stack's process, as Lambda runs them apart
 * from API Gateway: each invocation is a message to the parent and its answer a message back.
 *
 * The parent accepts the WebSocket handshake on the HTTP API's port and hands the socket over
 * (a handle passed over the IPC channel), so the URL stays `ws://host:port/ws`; the management
 * API listens on a loopback port of this process, which the functions' publisher calls directly.
 */
const send = (message: GatewayToStack) => process.send?.(message);

const idleSeconds = Number(process.env.LOCAL_GATEWAY_IDLE_SECONDS);
const maxSeconds = Number(process.env.LOCAL_GATEWAY_MAX_SECONDS);

let nextInvocation = 0;
const invocations = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

const api = new LocalWebSocketApi({
  // The parent loads each handler once, as a Lambda container keeps its code.
  load: async (id) => (event: unknown) =>
    new Promise((resolve, reject) => {
      const invocation = nextInvocation++;
      invocations.set(invocation, { resolve, reject });
      send({ type: 'invoke', invocation, functionName: id, event });
    }),
  // The parent makes the Lambda context; nothing here reads it.
  context: (functionName) => ({ functionName }) as Context,
  idleSeconds,
  maxSeconds,
});

const management = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (!api.isManagementRequest(url.pathname)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
      return;
    }
    api.handleManagement(req, res, url, Buffer.concat(chunks));
  });
});
management.keepAliveTimeout = 5_000;

process.on('message', (message: StackToGateway, handle?: unknown) => {
  if (message.type === 'upgrade') {
    const socket = handle as Socket | undefined;
    if (!socket) return;
    api.handleUpgrade(requestOf(message.request, socket), socket, Buffer.from(message.head, 'base64'));
  } else if (message.type === 'result') {
    const waiting = invocations.get(message.invocation);
    invocations.delete(message.invocation);
    if (!waiting) return;
    if (message.error) waiting.reject(Object.assign(new Error(message.error.message), { stack: message.error.stack }));
    else waiting.resolve(message.value);
  } else if (message.type === 'close') {
    void api.close().then(() => {
      management.closeAllConnections();
      management.close(() => {
        // The parent may have gone meanwhile (a SIGTERM while closing): sending or disconnecting
        // on a closed channel throws.
        if (!process.connected) return;
        send({ type: 'closed' });
        process.disconnect?.();
      });
    });
  }
});
// The parent is gone (killed, crashed): so is its gateway.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the stack closes its gateway itself (sockets first, each
// with its $disconnect), so the gateway must not die before it is asked to.
process.on('SIGINT', () => {});

management.listen(0, '127.0.0.1', () => {
  send({ type: 'ready', managementPort: (management.address() as AddressInfo).port });
});

/** What the gateway reads of a handshake request, on the socket it now owns. */
function requestOf(request: UpgradeRequest, socket: Socket): IncomingMessage {
  return { ...request, socket } as unknown as IncomingMessage;
}
