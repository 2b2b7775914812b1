import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { EventRule } from '../events/order-events';
import { buildOpenApiDocument } from '../http/openapi';
import { type RouteDefinition, routeKey, routeList } from '../http/routes';
import { webSocketLimits } from '../realtime/routes';
import { type CorsConfiguration, preflightHeaders, responseCorsHeaders } from './cors';
import { webSocketUrlOf } from './local-address';
import { createVerifier, flattenClaims, type LocalAuthConfig } from './local-auth';
import { LocalEventBus, type LocalEventBusOptions } from './local-event-bus';
import type { WebSocketLambda } from './local-websocket';
import { WebSocketGatewayProcess } from './websocket-gateway-process';

/**
 * `npm start`: the route table served as API Gateway's HTTP API would serve it. Each request is
 * checked the way the Cognito JWT authorizer checks it, turned into the payload 2.0 event the
 * Lambda receives, and the Lambda's result turned back into the HTTP response. The same server
 * answers EventBridge's PutEvents (POST / with X-Amz-Target) and delivers to the event rules,
 * and serves the WebSocket API and its management API at /ws (./local-websocket.ts, run in a
 * process of its own as API Gateway runs apart from the Lambdas: ./websocket-gateway-process.ts).
 *
 * The gateway's own answers (404, 400 for an undecodable path, 413, 401, 500 when the Lambda
 * fails) are shaped like API Gateway's: `{"message": …}`, `content-type: application/json` and
 * an `apigw-requestid`, and none of the Lambdas' security headers. CORS is answered as the
 * deployed API's configuration would (./cors.ts).
 */
export type HttpHandler = (
  event: APIGatewayProxyEventV2WithJWTAuthorizer,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;
type EventHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalServerOptions {
  port: number;
  host?: string;
  auth: LocalAuthConfig;
  events: Omit<LocalEventBusOptions, 'deliver'>;
  /** Served at GET /local/stats: the data layer's statement counts (the benchmark reads them), with the process ids. */
  stats?: () => unknown;
  /** The HTTP API's CORS configuration; undefined answers no preflight (an API without CORS). */
  cors?: CorsConfiguration;
  /** The WebSocket API's idle and maximum connection times; default API Gateway's 600 s and 7200 s. */
  webSocket?: { idleSeconds: number; maxSeconds: number };
  /**
   * Another route table behind the same gateway, in place of the service's (the benchmark's plan
   * baseline): its routes and how to load each one's handler (asked on every request: keep what it
   * loads, as a container keeps its code). Default: lib/http/routes.ts and
   * functions/http/<id>.ts.
   */
  http?: { routes: readonly RouteDefinition[]; load: (route: RouteDefinition) => Promise<HttpHandler> };
  /**
   * Other AWS services on the same port, each claiming its own requests before the gateway reads
   * them (they read their bodies as streams: an S3 upload is not buffered twice). The local S3
   * endpoint of the attachments bucket is one.
   */
  services?: readonly LocalService[];
}

export interface LocalService {
  handles(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface LocalServer {
  url: string;
  /** `ws://host:port/ws`: connect with `?token=<access token>`. */
  webSocketUrl: string;
  /** The WebSocket gateway's management API on its own loopback port, for the functions' publisher. */
  managementEndpoint: string;
  server: Server;
  bus: LocalEventBus;
  webSocket: WebSocketGatewayProcess;
  close(): Promise<void>;
}

/** API Gateway's own payload limit for HTTP APIs. */
const GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024;
const textTypes = /^(application\/(.+\+)?json|text\/|application\/(x-www-form-urlencoded|xml|javascript))/i;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body as text, or undefined when its bytes are not UTF-8 (so it must travel as base64). */
function utf8Text(body: Buffer): string | undefined {
  try {
    return strictUtf8.decode(body);
  } catch {
    return undefined;
  }
}

/** An answer of the gateway itself, as API Gateway shapes them. */
function gatewayAnswer(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) {
  res
    .writeHead(status, { 'content-type': 'application/json', 'apigw-requestid': gatewayRequestId(), ...headers })
    .end(JSON.stringify({ message }));
}

/**
 * API Gateway's request ids look like `Mc7UVioPPHcEKPA=`: 10 random bytes, here cut from a pool
 * drawn 256 ids at a time (a randomBytes call per request was 1 % of the stack's CPU under load).
 */
function gatewayRequestId(): string {
  if (requestIdBytes.offset + 10 > requestIdBytes.pool.length) requestIdBytes = { pool: randomBytes(2560), offset: 0 };
  const id = requestIdBytes.pool.toString('base64', requestIdBytes.offset, requestIdBytes.offset + 10);
  requestIdBytes.offset += 10;
  return id;
}
let requestIdBytes = { pool: Buffer.alloc(0), offset: 0 };

function decodable(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

interface CompiledRoute {
  route: RouteDefinition;
  pattern: RegExp;
  names: string[];
}

function compile(route: RouteDefinition): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const parameter = /^\{(\w+)\}$/.exec(segment);
      if (!parameter) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(parameter[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names };
}

export function lambdaContext(functionName: string): Context {
  const deadline = Date.now() + 29_000;
  const awsRequestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const verifier = await createVerifier(options.auth);
  const compiled = (options.http?.routes ?? routeList).map(compile);
  // Each handler module is imported on first use, as a Lambda container loads its code once.
  const handlers = new Map<string, Promise<unknown>>();
  const loadHandler = <T>(folder: 'http' | 'events' | 'ws', id: string): Promise<T> => {
    const key = `${folder}/${id}`;
    let loaded = handlers.get(key);
    if (!loaded) {
      loaded = import(`../../functions/${folder}/${id}.ts`).then((m: { handler: T }) => m.handler);
      handlers.set(key, loaded);
    }
    return loaded as Promise<T>;
  };
  const loadHttp = options.http?.load ?? ((route: RouteDefinition) => loadHandler<HttpHandler>('http', route.id));
  const loadEvent = (rule: EventRule) => loadHandler<EventHandler>('events', rule.id);
  const bus = new LocalEventBus({
    ...options.events,
    deliver: async (rule, event) => (await loadEvent(rule))(event, lambdaContext(rule.id)),
  });
  const webSocket = await WebSocketGatewayProcess.start({
    load: (id) => loadHandler<WebSocketLambda>('ws', id),
    context: lambdaContext,
    idleSeconds: options.webSocket?.idleSeconds ?? webSocketLimits.idleSeconds,
    maxSeconds: options.webSocket?.maxSeconds ?? webSocketLimits.maxSeconds,
  });
  const openApi = JSON.stringify(buildOpenApiDocument({ serverUrl: '/' }));
  const swaggerDir = (await import('swagger-ui-dist')).getAbsoluteFSPath();

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer) {
    const url = new URL(req.url ?? '/', 'http://local');
    const method = (req.method ?? 'GET').toUpperCase();
    const target = req.headers['x-amz-target'];

    if (method === 'POST' && url.pathname === '/' && typeof target === 'string') {
      const answer = await bus.handleApiCall(target, body.toString('utf8'));
      res
        .writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.1', ...answer.headers })
        .end(answer.body);
      return;
    }
    if (webSocket.isManagementRequest(url.pathname)) {
      webSocket.handleManagement(req, res, url, body);
      return;
    }
    if (method === 'GET' && url.pathname === '/openapi.json') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(openApi);
      return;
    }
    if (method === 'GET' && url.pathname === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(verifier.jwks));
      return;
    }
    if (method === 'GET' && url.pathname === '/local/stats') {
      // With the processes' ids, so a benchmark can tell what the stack and the gateway spend, and
      // the gateway's own management endpoint, so it can call it as the functions do (no forwarding).
      const processes = { stack: process.pid, gateway: webSocket.pid };
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          ...(options.stats?.() as object | undefined),
          processes,
          managementEndpoint: webSocket.managementEndpoint,
        }),
      );
      return;
    }
    if (method === 'GET' && url.pathname === '/local/events') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bus.report()));
      return;
    }
    if (method === 'GET' && (url.pathname === '/docs' || url.pathname.startsWith('/docs/'))) {
      await serveDocs(url.pathname, swaggerDir, res);
      return;
    }

    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    // A CORS preflight is answered by the gateway itself, before routing and the authorizer.
    if (options.cors && method === 'OPTIONS' && origin && req.headers['access-control-request-method']) {
      res.writeHead(204, { 'apigw-requestid': gatewayRequestId(), ...preflightHeaders(options.cors, origin) }).end();
      return;
    }
    if (!decodable(url.pathname)) {
      // A malformed percent escape (`%ZZ`, or bytes that are not UTF-8): refused at the door.
      gatewayAnswer(res, 400, 'Bad Request');
      return;
    }
    const match = findRoute(compiled, method, url.pathname);
    if (!match) {
      gatewayAnswer(res, 404, 'Not Found');
      return;
    }
    if (body.length > GATEWAY_PAYLOAD_LIMIT) {
      gatewayAnswer(res, 413, 'Request Entity Too Large');
      return;
    }
    // A public route has no authorizer in the stack either: no token is asked for or read.
    const verified =
      match.route.access === 'public'
        ? ({ ok: true, claims: {} } as const)
        : await verifier.verify(req.headers.authorization);
    if (!verified.ok) {
      gatewayAnswer(res, 401, 'Unauthorized', {
        'www-authenticate': `Bearer scope="" error="invalid_token" error_description="${verified.reason}"`,
      });
      return;
    }
    const event = toLambdaEvent(req, url, match, body, flattenClaims(verified.claims));
    const handler = await loadHttp(match.route);
    let result: APIGatewayProxyStructuredResultV2;
    try {
      result = await handler(event, lambdaContext(match.route.id));
    } catch (error) {
      // What API Gateway answers when the Lambda itself fails.
      console.error(
        JSON.stringify({ level: 'error', message: 'lambda failed', route: match.route.id, error: String(error) }),
      );
      gatewayAnswer(res, 500, 'Internal Server Error');
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(result.headers ?? {})) {
      // With CORS configured, API Gateway ignores the integration's own CORS headers.
      if (options.cors && name.toLowerCase().startsWith('access-control-')) continue;
      headers[name] = String(value);
    }
    if (options.cors) Object.assign(headers, responseCorsHeaders(options.cors, origin));
    if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
    const payload =
      result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
    res
      .writeHead(result.statusCode ?? 200, { 'apigw-requestid': event.requestContext.requestId, ...headers })
      .end(payload);
  }

  const server = createServer((req, res) => {
    const service = options.services?.find((s) => s.handles(req));
    if (service) {
      service.handle(req, res).catch((error) => {
        console.error(JSON.stringify({ level: 'error', message: 'local service failed', error: String(error) }));
        if (!res.headersSent) res.writeHead(500).end();
        else res.end();
      });
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((error) => {
        console.error(JSON.stringify({ level: 'error', message: 'local server failed', error: String(error) }));
        if (!res.headersSent) gatewayAnswer(res, 500, 'Internal Server Error');
        else res.end();
      });
    });
  });
  server.keepAliveTimeout = 5_000;
  // A WebSocket handshake: authorized and connected by the WebSocket API before it completes.
  server.on('upgrade', (req, socket, head) => webSocket.handleUpgrade(req, socket, head));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await webSocket.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  return {
    url,
    webSocketUrl: webSocketUrlOf(url),
    managementEndpoint: webSocket.managementEndpoint,
    server,
    bus,
    webSocket,
    async close() {
      // Closing starts first: a server that handed sockets to another process (the gateway) asks
      // that process whether they are closed, which it can answer only while it is connected.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Sockets next: their $disconnect Lambdas still need the database.
      await webSocket.close();
      await bus.drain();
      server.closeAllConnections();
      await closed;
    },
  };
}

function findRoute(compiled: CompiledRoute[], method: string, path: string) {
  for (const c of compiled) {
    if (c.route.method !== method) continue;
    const m = c.pattern.exec(path);
    if (!m) continue;
    const pathParameters: Record<string, string> = {};
    c.names.forEach((name, i) => {
      pathParameters[name] = decodeURIComponent(m[i + 1]!);
    });
    return { ...c, pathParameters };
  }
  return undefined;
}

/** The payload 2.0 event API Gateway builds: lower-cased headers, repeated values joined by commas. */
function toLambdaEvent(
  req: IncomingMessage,
  url: URL,
  match: CompiledRoute & { pathParameters: Record<string, string> },
  body: Buffer,
  claims: Record<string, string>,
): APIGatewayProxyEventV2WithJWTAuthorizer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && name !== 'cookie') headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = name in query ? `${query[name]},${value}` : value;
  // Payload 2.0 carries a body as a string, or base64 with isBase64Encoded: true. A text type's
  // body goes as a string only when its bytes are UTF-8; anything else goes as base64, so the
  // Lambda sees the bytes as sent (and refuses them), never a lossy U+FFFD decoding.
  const contentType = headers['content-type'] ?? '';
  const text = body.length === 0 ? '' : textTypes.test(contentType) ? utf8Text(body) : undefined;
  const now = new Date();
  const requestId = gatewayRequestId();
  const key = routeKey(match.route);
  return {
    version: '2.0',
    routeKey: key,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    cookies: req.headers.cookie?.split(/;\s*/),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters: Object.keys(match.pathParameters).length ? match.pathParameters : undefined,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: {
        principalId: '',
        integrationLatency: 0,
        jwt: { claims, scopes: claims.scope ? claims.scope.split(' ') : [] },
      },
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: match.route.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: key,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: body.length ? (text ?? body.toString('base64')) : undefined,
    isBase64Encoded: text === undefined,
  } as APIGatewayProxyEventV2WithJWTAuthorizer;
}

const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Messaging API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`;
const docsInit = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui', persistAuthorization: true });`;
const mime: Record<string, string> = {
  '.css': 'text/css',
  '.js': 'application/javascript',
  '.png': 'image/png',
  '.html': 'text/html',
};

/** The OpenAPI page, from the installed swagger-ui-dist package: no CDN, works offline. */
async function serveDocs(pathname: string, swaggerDir: string, res: ServerResponse) {
  if (pathname === '/docs' || pathname === '/docs/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(docsPage);
    return;
  }
  if (pathname === '/docs/init.js') {
    res.writeHead(200, { 'content-type': 'application/javascript' }).end(docsInit);
    return;
  }
  const file = normalize(pathname.slice('/docs/'.length));
  if (file.startsWith('..') || file.includes('/')) {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
    return;
  }
  try {
    const data = await readFile(join(swaggerDir, file));
    res.writeHead(200, { 'content-type': mime[extname(file)] ?? 'application/octet-stream' }).end(data);
  } catch {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
  }
}
