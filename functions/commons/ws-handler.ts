import type { APIGatewayProxyWebsocketEventV2, Context } from 'aws-lambda';
import type * as z from 'zod/mini';
import { isDatabaseUnavailable } from '../../lib/db/unavailable';
import { roleFromGroups } from '../../lib/http/identity';
import type { Caller } from '../../lib/messaging/types';
import { frame, type ServerFrame } from '../../lib/realtime/frames';
import type { WebSocketRouteDefinition } from '../../lib/realtime/routes';
import { type Runtime, useRuntime } from '../../lib/runtime';
import { logger } from './logger';

/**
 * The shared shape of the WebSocket route handlers, as httpHandler is for HTTP. API Gateway runs
 * the `$connect` authorizer once per connection and hands its context (`userId`, `groups`) to
 * every route of the connection in `requestContext.authorizer`. A route's answer is a frame for
 * the caller's socket (sent back by API Gateway on two-way routes), or nothing.
 */
export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & {
  requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & {
    authorizer?: { principalId?: string; userId?: string; groups?: string };
  };
};

export interface WebSocketRequest<B> {
  connectionId: string;
  caller: Caller;
  /** The frame, parsed and checked against the route's schema (undefined on $connect/$disconnect). */
  body: B;
}

export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

/** A refusal the caller hears about as an `error` frame. */
export class FrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const answer = (statusCode: number, serverFrame?: ServerFrame): WebSocketResult =>
  serverFrame ? { statusCode, body: JSON.stringify(serverFrame) } : { statusCode };

function callerOf(event: WebSocketEvent): Caller | undefined {
  const context = event.requestContext.authorizer;
  if (!context?.userId) return undefined;
  const role = roleFromGroups((context.groups ?? '').split(',').filter(Boolean));
  return { userId: context.userId, role, isAdmin: role === 'admin' };
}

export function webSocketHandler<S extends z.ZodMiniType | undefined = undefined>(
  route: WebSocketRouteDefinition,
  schema?: S,
) {
  type Body = S extends z.ZodMiniType ? z.output<S> : undefined;
  return (run: (request: WebSocketRequest<Body>, runtime: Runtime) => Promise<ServerFrame | undefined>) =>
    async (event: WebSocketEvent, context?: Context): Promise<WebSocketResult> => {
      const base = {
        route: route.id,
        connectionId: event.requestContext.connectionId,
        requestId: context?.awsRequestId,
      };
      const caller = callerOf(event);
      // Only the authorizer's $connect lets a connection exist; a route without its context is a misconfiguration.
      if (!caller) {
        logger.error('no authorizer context', base);
        return answer(500, frame('error', { code: 'internal_error', message: 'Internal error' }));
      }
      try {
        let body: unknown;
        if (schema) {
          let raw: unknown;
          try {
            raw = JSON.parse(event.body ?? '');
          } catch {
            throw new FrameError('invalid_json', 'A frame is one JSON object');
          }
          const parsed = schema.safeParse(raw);
          if (!parsed.success) {
            const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'frame'}: ${i.message}`);
            throw new FrameError('invalid_input', problems.join('; '));
          }
          body = parsed.data;
        }
        const reply = await run(
          { connectionId: event.requestContext.connectionId, caller, body: body as Body },
          await useRuntime(),
        );
        return answer(200, reply);
      } catch (error) {
        if (error instanceof FrameError)
          return answer(200, frame('error', { code: error.code, message: error.message }));
        const unavailable = isDatabaseUnavailable(error);
        logger[unavailable ? 'warn' : 'error']('websocket route failed', {
          ...base,
          error: error instanceof Error ? error.message : String(error),
        });
        const code = unavailable ? 'unavailable' : 'internal_error';
        // $connect answers with its status (a non-2xx refuses the connection); the others with a frame.
        return answer(
          unavailable ? 503 : 500,
          frame('error', { code, message: unavailable ? 'Try again shortly' : 'Internal error' }),
        );
      }
    };
}
