import type { RouteBinding } from '../http/routes';

/**
 * The only list of WebSocket routes. The CDK stack makes one Lambda and one API Gateway
 * WebSocket route from each entry, the local server serves them on the HTTP API's port (at
 * /ws), and the README's contract table is read from it. A route's handler is
 * `functions/ws/<id>.ts`, exporting `handler`. API Gateway selects the route from the frame's
 * `action` (`$request.body.action`); a frame whose action names no route goes to `$default`.
 */
export type WebSocketRouteKey = '$connect' | '$disconnect' | '$default' | 'typing' | 'ping';

export interface WebSocketRouteDefinition {
  id: string;
  routeKey: WebSocketRouteKey;
  summary: string;
  /**
   * A two-way route: the body the Lambda returns is sent back to the caller's socket as one frame
   * (API Gateway's route response, `returnResponse`), which costs no PostToConnection call.
   */
  returnResponse: boolean;
  /** What the route's Lambda may touch (see RouteDefinition.bindings); `connections`: PostToConnection. */
  bindings: readonly RouteBinding[];
}

const route = <const R extends WebSocketRouteDefinition>(r: R) => r;

export const webSocketRoutes = {
  connect: route({
    id: 'ws-connect',
    routeKey: '$connect',
    summary: 'Registers the connection for the user the authorizer verified (one statement)',
    returnResponse: false,
    bindings: ['database'],
  }),
  disconnect: route({
    id: 'ws-disconnect',
    routeKey: '$disconnect',
    summary: 'Removes the connection from the registry (one statement)',
    returnResponse: false,
    bindings: ['database'],
  }),
  default: route({
    id: 'ws-default',
    routeKey: '$default',
    summary: 'Any frame whose action names no route: answered with an error frame',
    returnResponse: true,
    bindings: [],
  }),
  typing: route({
    id: 'ws-typing',
    routeKey: 'typing',
    summary:
      '`{"action":"typing","conversationId":…}`: tells the other participants, at most once per user and conversation per 2 s',
    returnResponse: true,
    bindings: ['database', 'connections'],
  }),
  ping: route({
    id: 'ws-ping',
    routeKey: 'ping',
    summary: '`{"action":"ping"}`: answered with `{"type":"pong"}`; keeps an idle connection open',
    returnResponse: true,
    bindings: [],
  }),
} as const satisfies Record<string, WebSocketRouteDefinition>;

export const webSocketRouteList: readonly WebSocketRouteDefinition[] = Object.values(webSocketRoutes);

/** API Gateway's route selection expression for this API. */
export const routeSelectionExpression = '$request.body.action';

/**
 * The Lambda REQUEST authorizer of `$connect` (`functions/ws/ws-authorize.ts`). Browsers cannot
 * set headers on a WebSocket, so the access token travels in the query string.
 */
export const webSocketAuthorizer = {
  id: 'ws-authorize',
  identitySource: 'route.request.querystring.token',
  /** The query string parameter that carries the Cognito access token. */
  tokenParameter: 'token',
} as const;

/** The local WebSocket URL's path on the HTTP API's port; also the management API's stage path. */
export const LOCAL_WEBSOCKET_PATH = '/ws';

/** API Gateway's limits (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). */
export const webSocketLimits = {
  /** Largest frame, either way: 128 KB. */
  frameBytes: 128 * 1024,
  idleSeconds: 10 * 60,
  maxSeconds: 2 * 60 * 60,
} as const;

/** A typing frame reaches the others at most once per user and conversation in this window. */
export const TYPING_INTERVAL_SECONDS = 2;
