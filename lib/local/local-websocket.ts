import { randomBytes, randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from 'aws-lambda';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  LOCAL_WEBSOCKET_PATH,
  type WebSocketRouteDefinition,
  webSocketAuthorizer,
  webSocketLimits,
  webSocketRouteList,
} from '../realtime/routes';

/**
 * The WebSocket API, locally, as API Gateway runs it: on the HTTP API's port at /ws (the path
 * plays the stage). Before the handshake completes, the `$connect` REQUEST authorizer runs
 * (`functions/ws/ws-authorize.ts`, the real one) with the event API Gateway sends it, then the
 * `$connect` route's Lambda; either can refuse the connection with an HTTP status. Each text frame
 * is routed on its JSON `action` (`$request.body.action`) to its route's Lambda, else `$default`;
 * a two-way route's returned body goes back as one frame. A closed socket runs `$disconnect`.
 *
 * The same server answers the management API (`@connections`), so the real
 * ApiGatewayManagementApiClient, pointed at `http://host:port/ws`, reaches these sockets as it
 * reaches API Gateway's: PostToConnection, GetConnection, DeleteConnection, with the statuses and
 * error shapes of the service (restJson: `x-amzn-ErrorType` and `{"message"}`).
 *
 * API Gateway's limits (Quotas for WebSocket APIs): a message over 128 KB closes the connection
 * with 1009, a binary frame with 1003 (WebSocket APIs take text frames only); a connection idle for
 * 10 minutes or open for 2 hours is closed (both shortened by LOCAL_WS_IDLE_SECONDS and
 * LOCAL_WS_MAX_SECONDS for the tests). Not emulated: the 32 KB limit on a single frame of a
 * fragmented message (`ws` reassembles before we see it), and route selection on anything but
 * `action`.
 */
export type WebSocketLambda = (event: never, context: Context) => Promise<unknown>;

export interface LocalWebSocketOptions {
  /** Loads `functions/ws/<id>.ts`'s handler, once per id (a Lambda's cold start). */
  load: (id: string) => Promise<WebSocketLambda>;
  context: (functionName: string) => Context;
  idleSeconds: number;
  maxSeconds: number;
  apiId?: string;
  region?: string;
  account?: string;
}

/** The authorizer context as API Gateway hands it to every route: principalId + the context's keys. */
type AuthorizerContext = Record<string, string | number | boolean>;

interface Connection {
  id: string;
  socket: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  domainName: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  authorizer: AuthorizerContext;
  idle?: NodeJS.Timeout;
  lifetime: NodeJS.Timeout;
  /** Set once the socket is closing: it is gone (410) for the management API from then on. */
  closing: boolean;
}

/** Close code and reason API Gateway uses when it ends a connection itself. */
const GOING_AWAY = 1001;
const UNSUPPORTED_DATA = 1003;

const stage = LOCAL_WEBSOCKET_PATH.replace(/^\//, '');
const connectionsPath = `${LOCAL_WEBSOCKET_PATH}/@connections/`;

/** API Gateway's connection ids and request ids look like `L0SM9cOFvHcCIhw=`. */
const gatewayId = () => randomBytes(11).toString('base64');

/** `requestTime` as API Gateway writes it: `02/Dec/2026:13:37:17 +0000`. */
function requestTime(at: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(at.getUTCDate())}/${months[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000`;
}

export class LocalWebSocketApi {
  private readonly wss = new WebSocketServer({
    noServer: true,
    // API Gateway's message limit; `ws` closes with 1009 (Message Too Big) beyond it, as API Gateway does.
    maxPayload: webSocketLimits.frameBytes,
    // API Gateway does not negotiate permessage-deflate.
    perMessageDeflate: false,
  });
  private readonly connections = new Map<string, Connection>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly routes = new Map<string, WebSocketRouteDefinition>(webSocketRouteList.map((r) => [r.routeKey, r]));
  private readonly apiId: string;
  private readonly methodArnPrefix: string;

  constructor(private readonly options: LocalWebSocketOptions) {
    this.apiId = options.apiId ?? 'local';
    this.methodArnPrefix = `arn:aws:execute-api:${options.region ?? 'local'}:${options.account ?? '000000000000'}:${this.apiId}/${stage}`;
  }

  /** Whether a request is for the management API (`/ws/@connections/…`). */
  isManagementRequest(pathname: string): boolean {
    return pathname.startsWith(connectionsPath);
  }

  /** The http server's `upgrade` event. Never throws: every failure is an HTTP answer on the socket. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.track(
      this.upgrade(req, socket, head).catch((error) => {
        logError('websocket upgrade failed', error);
        refuse(socket, 500);
      }),
    );
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname !== LOCAL_WEBSOCKET_PATH) return refuse(socket, 404, { message: 'Not Found' });
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !req.headers['sec-websocket-key']) {
      return refuse(socket, 400, { message: 'Bad Request' });
    }
    const now = new Date();
    const connectionId = gatewayId();
    const { headers, multiValueHeaders } = requestHeaders(req);
    const query: Record<string, string> = {};
    const multiQuery: Record<string, string[]> = {};
    for (const [name, value] of url.searchParams) {
      query[name] = value; // the last value, as API Gateway's single-value map
      multiQuery[name] = [...(multiQuery[name] ?? []), value];
    }
    const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
    const userAgent = req.headers['user-agent'] ?? '';
    const domainName = req.headers.host ?? 'localhost';
    const requestContext = {
      routeKey: '$connect',
      eventType: 'CONNECT',
      extendedRequestId: gatewayId(),
      requestTime: requestTime(now),
      messageDirection: 'IN',
      stage,
      connectedAt: now.getTime(),
      requestTimeEpoch: now.getTime(),
      identity: { sourceIp, userAgent },
      requestId: gatewayId(),
      domainName,
      connectionId,
      apiId: this.apiId,
    };

    // The identity source: when it is missing or empty API Gateway answers 401 without invoking the authorizer.
    if (!query[webSocketAuthorizer.tokenParameter]) return refuse(socket, 401, { message: 'Unauthorized' });
    const started = Date.now();
    const authorizerEvent = {
      type: 'REQUEST',
      methodArn: `${this.methodArnPrefix}/$connect`,
      headers,
      multiValueHeaders,
      queryStringParameters: query,
      multiValueQueryStringParameters: multiQuery,
      stageVariables: {},
      requestContext,
    };
    const decision = await this.authorize(authorizerEvent);
    if ('status' in decision) return refuse(socket, decision.status, { message: decision.message });
    const authorizer: AuthorizerContext = {
      ...decision.context,
      principalId: decision.principalId,
      integrationLatency: Date.now() - started,
    };

    const connectEvent = {
      headers,
      multiValueHeaders,
      queryStringParameters: query,
      multiValueQueryStringParameters: multiQuery,
      requestContext: { ...requestContext, authorizer },
      isBase64Encoded: false,
    };
    const connectRoute = this.routes.get('$connect');
    if (connectRoute) {
      let result: unknown;
      try {
        result = await this.invoke(connectRoute.id, connectEvent);
      } catch (error) {
        logError('$connect failed', error);
        return refuse(socket, 500, { message: 'Internal server error' });
      }
      // A proxy integration's non-2xx answer to $connect refuses the connection with that status.
      const status = statusOf(result);
      if (status < 200 || status > 299) return refuse(socket, status);
    }
    if (socket.destroyed) {
      // The client left while $connect ran: API Gateway still ends the connection with $disconnect.
      await this.disconnect({ ...connectEvent.requestContext }, headers, multiValueHeaders, 1006, 'Client gone');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const connection: Connection = {
        id: connectionId,
        socket: ws,
        connectedAt: now.getTime(),
        lastActiveAt: now.getTime(),
        sourceIp,
        userAgent,
        domainName,
        headers,
        multiValueHeaders,
        authorizer,
        closing: false,
        lifetime: setTimeout(() => this.end(connection, GOING_AWAY, 'Going away'), this.options.maxSeconds * 1000),
      };
      this.connections.set(connectionId, connection);
      this.touch(connection);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          this.end(connection, UNSUPPORTED_DATA, 'Binary frames are not supported');
          return;
        }
        this.touch(connection);
        this.track(this.message(connection, data.toString('utf8')));
      });
      ws.on('error', () => {}); // `ws` closes the socket itself (1009 over the limit, 1002 on a protocol error)
      ws.on('close', (code: number, reason: Buffer) => {
        connection.closing = true;
        clearTimeout(connection.idle);
        clearTimeout(connection.lifetime);
        this.connections.delete(connectionId);
        this.track(
          this.disconnect(
            this.contextOf(connection, '$disconnect', 'DISCONNECT'),
            headers,
            multiValueHeaders,
            code,
            reason.toString('utf8'),
          ),
        );
      });
    });
  }

  /**
   * Runs the authorizer and reads its answer as API Gateway does: `Unauthorized` thrown is 401,
   * anything else thrown or an unusable answer is 500, a policy that does not allow
   * `execute-api:Invoke` on the methodArn (or denies it) is 403.
   */
  private async authorize(event: {
    methodArn: string;
  }): Promise<{ principalId: string; context: AuthorizerContext } | { status: number; message: string }> {
    let result: unknown;
    try {
      result = await this.invoke(webSocketAuthorizer.id, event);
    } catch (error) {
      if ((error as Error)?.message === 'Unauthorized') return { status: 401, message: 'Unauthorized' };
      logError('authorizer failed', error);
      return { status: 500, message: 'Internal server error' };
    }
    const answer = result as { principalId?: unknown; policyDocument?: unknown; context?: unknown } | undefined;
    const context = answer?.context ?? {};
    const valid =
      answer &&
      typeof answer.principalId === 'string' &&
      typeof context === 'object' &&
      context !== null &&
      !Array.isArray(context) &&
      // Context values must be strings, numbers or booleans; objects and arrays are refused.
      Object.values(context).every((v) => ['string', 'number', 'boolean'].includes(typeof v)) &&
      // "AWS Lambda authorizer result size: 8 KB".
      Buffer.byteLength(JSON.stringify(answer)) <= 8 * 1024;
    if (!valid) {
      logError('authorizer answer unusable', new Error('AuthorizerConfigurationException'));
      return { status: 500, message: 'Internal server error' };
    }
    if (!policyAllows(answer.policyDocument, event.methodArn)) return { status: 403, message: 'Forbidden' };
    return { principalId: answer.principalId as string, context: context as AuthorizerContext };
  }

  private async message(connection: Connection, body: string) {
    const route = this.routeFor(body);
    const now = new Date();
    const event = {
      requestContext: { ...this.contextOf(connection, route.routeKey, 'MESSAGE', now), messageId: gatewayId() },
      body,
      isBase64Encoded: false,
    };
    let result: unknown;
    try {
      result = await this.invoke(route.id, event);
    } catch (error) {
      logError(`${route.routeKey} failed`, error);
      // What API Gateway sends the client when the integration fails.
      this.send(
        connection,
        JSON.stringify({
          message: 'Internal server error',
          connectionId: connection.id,
          requestId: event.requestContext.requestId,
        }),
      );
      return;
    }
    const reply = (result as { body?: unknown } | undefined)?.body;
    if (route.returnResponse && typeof reply === 'string') this.send(connection, reply);
  }

  /** `$request.body.action`: the JSON body's `action` naming a route, else `$default`. */
  private routeFor(body: string): WebSocketRouteDefinition {
    let action: unknown;
    try {
      action = (JSON.parse(body) as { action?: unknown } | null)?.action;
    } catch {
      action = undefined;
    }
    const named = typeof action === 'string' && !action.startsWith('$') ? this.routes.get(action) : undefined;
    const route = named ?? this.routes.get('$default');
    if (!route) throw new Error('the route table has no $default route');
    return route;
  }

  private async disconnect(
    requestContext: Record<string, unknown>,
    headers: Record<string, string>,
    multiValueHeaders: Record<string, string[]>,
    code: number,
    reason: string,
  ) {
    const route = this.routes.get('$disconnect');
    if (!route) return;
    const now = new Date();
    const event = {
      headers,
      multiValueHeaders,
      requestContext: {
        ...requestContext,
        routeKey: '$disconnect',
        eventType: 'DISCONNECT',
        requestTime: requestTime(now),
        requestTimeEpoch: now.getTime(),
        requestId: gatewayId(),
        extendedRequestId: gatewayId(),
        disconnectStatusCode: code,
        disconnectReason: reason,
      },
      isBase64Encoded: false,
    };
    try {
      await this.invoke(route.id, event);
    } catch (error) {
      // Nobody to answer: API Gateway only logs a failed $disconnect.
      logError('$disconnect failed', error);
    }
  }

  private contextOf(connection: Connection, routeKey: string, eventType: string, now = new Date()) {
    return {
      routeKey,
      eventType,
      extendedRequestId: gatewayId(),
      requestTime: requestTime(now),
      messageDirection: 'IN',
      stage,
      connectedAt: connection.connectedAt,
      requestTimeEpoch: now.getTime(),
      identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
      requestId: gatewayId(),
      domainName: connection.domainName,
      connectionId: connection.id,
      apiId: this.apiId,
      authorizer: connection.authorizer,
    };
  }

  private async invoke(id: string, event: unknown): Promise<unknown> {
    const handler = await this.options.load(id);
    return handler(event as never, this.options.context(id));
  }

  /** Traffic either way keeps a connection from the idle timeout (one timer per connection, re-armed). */
  private touch(connection: Connection) {
    connection.lastActiveAt = Date.now();
    if (connection.idle) connection.idle.refresh();
    else
      connection.idle = setTimeout(
        () => this.end(connection, GOING_AWAY, 'Going away'),
        this.options.idleSeconds * 1000,
      );
  }

  private send(connection: Connection, data: string | Buffer) {
    if (connection.closing) return;
    this.touch(connection);
    connection.socket.send(data, { binary: false });
  }

  private end(connection: Connection, code: number, reason: string) {
    if (connection.closing) return;
    connection.closing = true;
    this.connections.delete(connection.id);
    connection.socket.close(code, reason);
    // A client that never answers the close frame is cut off, as a gateway would.
    setTimeout(() => connection.socket.terminate(), 2000).unref();
  }

  /**
   * The management API: `POST|GET|DELETE /ws/@connections/{connectionId}`, SigV4-signed for
   * `execute-api` as the SDK signs it. The local stack cannot check the signature itself (it does
   * not know the caller's secret key), so it requires what it can see: an AWS4-HMAC-SHA256
   * Authorization header scoped to the execute-api service.
   */
  handleManagement(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const method = (req.method ?? 'GET').toUpperCase();
    const unsigned = signingProblem(req.headers.authorization);
    if (unsigned) {
      management(res, 403, 'ForbiddenException', unsigned);
      return;
    }
    const raw = url.pathname.slice(connectionsPath.length);
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      management(res, 400, 'BadRequestException', 'Invalid connection id');
      return;
    }
    if (!id || raw.includes('/') || !['POST', 'GET', 'DELETE'].includes(method)) {
      management(res, 403, 'ForbiddenException', 'Missing Authentication Token');
      return;
    }
    const connection = this.connections.get(id);
    if (!connection || connection.closing) {
      management(res, 410, 'GoneException');
      return;
    }
    if (method === 'POST') {
      if (body.length > webSocketLimits.frameBytes) {
        management(res, 413, 'PayloadTooLargeException', 'Message too long');
        return;
      }
      this.send(connection, body);
      res.writeHead(200, { 'x-amzn-RequestId': randomUUID() }).end();
      return;
    }
    if (method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-RequestId': randomUUID() }).end(
        JSON.stringify({
          connectedAt: new Date(connection.connectedAt).toISOString(),
          identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
          lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
        }),
      );
      return;
    }
    this.end(connection, GOING_AWAY, 'Going away');
    res.writeHead(204, { 'x-amzn-RequestId': randomUUID() }).end();
  }

  /** Closes every socket with 1001 (each runs $disconnect) and waits for the Lambdas still running. */
  async close(): Promise<void> {
    const closed = [...this.wss.clients].map((client) => new Promise((resolve) => client.once('close', resolve)));
    for (const connection of [...this.connections.values()]) this.end(connection, GOING_AWAY, 'Going away');
    for (const client of this.wss.clients) setTimeout(() => client.terminate(), 500).unref();
    await Promise.all(closed);
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private track(work: Promise<unknown>) {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }
}

/** Header names keep their case in WebSocket events, as API Gateway passes them. */
function requestHeaders(req: IncomingMessage) {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  return { headers, multiValueHeaders };
}

function statusOf(result: unknown): number {
  const status = (result as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : 200;
}

/** Ends the handshake with an HTTP answer, as API Gateway refuses a connection. */
function refuse(socket: Duplex, status: number, body?: { message: string }) {
  if (socket.destroyed) return;
  const payload = body ? JSON.stringify(body) : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n` +
      `x-amzn-RequestId: ${gatewayId()}\r\nconnection: close\r\n\r\n${payload}`,
  );
}

/** An IAM policy's verdict on `execute-api:Invoke` for a resource: an explicit Deny wins, else an Allow is needed. */
export function policyAllows(policy: unknown, resource: string): boolean {
  const document = policy as { Statement?: unknown } | undefined;
  const statements = Array.isArray(document?.Statement)
    ? document.Statement
    : document?.Statement
      ? [document.Statement]
      : [];
  let allowed = false;
  for (const statement of statements as { Effect?: unknown; Action?: unknown; Resource?: unknown }[]) {
    const actions = ([] as unknown[]).concat(statement?.Action ?? []);
    const resources = ([] as unknown[]).concat(statement?.Resource ?? []);
    const applies =
      actions.some((a) => typeof a === 'string' && wildcard(a.toLowerCase(), 'execute-api:invoke')) &&
      resources.some((r) => typeof r === 'string' && wildcard(r, resource));
    if (!applies) continue;
    if (statement.Effect === 'Deny') return false;
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

/** IAM's wildcards: `*` any run of characters, `?` any one. */
function wildcard(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(value);
}

/** What is wrong with a management call's Authorization header, if anything. */
function signingProblem(authorization: string | undefined): string | undefined {
  if (!authorization) return 'Missing Authentication Token';
  const credential =
    /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]{64}$/.exec(
      authorization,
    );
  if (!credential)
    return `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256)`;
  if (credential[4] !== 'execute-api') return "Credential should be scoped to correct service: 'execute-api'.";
  return undefined;
}

/** An answer of the management API, shaped as the SDK's restJson deserializer reads errors. */
function management(res: ServerResponse, status: number, errorType: string, message?: string) {
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-ErrorType': errorType,
      'x-amzn-RequestId': randomUUID(),
    })
    .end(JSON.stringify({ message: message ?? null }));
}

function logError(message: string, error: unknown) {
  console.error(JSON.stringify({ level: 'error', message, error: String((error as Error)?.stack ?? error) }));
}
