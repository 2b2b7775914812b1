import middy, { type MiddlewareObj } from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import validator, { type Options as ValidatorOptions } from '@middy/validator';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { isDatabaseUnavailable } from '../../lib/db/unavailable';
import type { HttpErrorCode } from '../../lib/http/error-codes';
import { callerFromClaims } from '../../lib/http/identity';
import type { RouteDefinition } from '../../lib/http/routes';
import {
  DomainError,
  type DomainErrorCode,
  ForbiddenError,
  InvalidInputError,
  RateLimitedError,
  UnauthorizedError,
  UnavailableError,
} from '../../lib/messaging/errors';
import type { Caller, ParticipantRole } from '../../lib/messaging/types';
import { recordUser } from '../../lib/messaging/users';
import { config, type Runtime, useRuntime } from '../../lib/runtime';
import { logger } from './logger';

export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

type Out<T> = T extends z.ZodMiniType ? z.output<T> : undefined;

/** What a handler receives: the validated input and the caller (none on a public route). */
export interface HttpInput<R extends RouteDefinition> {
  caller: R['access'] extends 'public' ? null : Caller;
  params: Out<R['params']>;
  query: Out<R['query']>;
  body: Out<R['body']>;
}

/**
 * What a handler returns: one of its route's success statuses with that status's body, typed
 * from the route's response schemas, so a handler that drifts from its contract fails `tsc`.
 */
export type HttpOutput<R extends RouteDefinition> = {
  [S in keyof R['responses'] & number]: R['responses'][S] extends { schema: infer T extends z.ZodMiniType }
    ? { status: S; body: z.input<T> }
    : R['responses'][S] extends { html: true }
      ? { status: S; html: string }
      : { status: S; body?: undefined };
}[keyof R['responses'] & number];

/**
 * What the middlewares hand on to the next ones and to the handler, on the Lambda context (the
 * one object middy passes to both): the caller, the validated input, when the request started.
 */
interface RequestState {
  startedAt?: number;
  caller?: Caller;
  input?: { params: unknown; query: unknown; body: unknown };
}
type HttpContext = Context & { request?: RequestState };
type Middleware = MiddlewareObj<HttpEvent, HttpResult, Error, HttpContext>;

const stateOf = (context: HttpContext): RequestState => (context.request ??= {});

/** Sent on every Lambda response, errors included. nosniff and the CSP keep browsers from rendering content as HTML. */
export const responseHeaders = {
  'content-type': 'application/json; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
} as const;

/**
 * A page for a person's browser (the unsubscribe link): no script may run, styles only inline, and
 * its one form may post only back to this API.
 */
export const pageHeaders = {
  ...responseHeaders,
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
} as const;

/**
 * The role this container last recorded for each user. The first request of a user, and the first
 * after their groups changed (promoted or demoted), costs one extra statement.
 */
const recordedRoles = new Map<string, ParticipantRole>();

/**
 * The shared middy stack for every HTTP Lambda:
 * response shaping and error mapping → 413 body limit → the caller's identity and the route's
 * access (403) → UTF-8 check of a JSON body (400) → JSON body parsing (415 when not JSON) →
 * validation from the route's zod schemas (through @middy/validator) → the handler.
 * Each middleware turns its own failures into an HttpProblem or a DomainError, so the error
 * mapping knows types, never another package's messages.
 */
export function httpHandler<R extends RouteDefinition>(route: R) {
  // Curried so that R is fixed before the handler is checked: a handler's `{ status: 200, … }`
  // then keeps its literal status and is checked against the route's responses.
  return (run: (input: HttpInput<R>, runtime: Runtime) => Promise<HttpOutput<R>>) => middyHandler(route, run);
}

function middyHandler<R extends RouteDefinition>(
  route: R,
  run: (input: HttpInput<R>, runtime: Runtime) => Promise<HttpOutput<R>>,
) {
  const stack = middy<HttpEvent, HttpResult, Error, HttpContext>()
    .use(responses(route))
    .use(bodyLimit(config.maxBodyBytes))
    .use(identity(route));
  if (route.body) stack.use(utf8Body()).use(jsonBody());
  stack.use(validation(route));
  return stack.handler(async (_event, context) => {
    const runtime = await useRuntime();
    const { caller, input } = stateOf(context);
    if ((!caller && route.access !== 'public') || !input) throw new Error('the middlewares did not run');
    if (caller && recordedRoles.get(caller.userId) !== caller.role) {
      await recordUser(runtime.domain, caller.userId, caller.role);
      recordedRoles.set(caller.userId, caller.role);
    }
    const request = { caller: caller ?? null, ...input } as HttpInput<R>;
    if (!route.bindings.includes('outboxRelay')) return (await run(request, runtime)) as unknown as HttpResult;
    // Started once the write's statement has returned and its pushes are out (push calls
    // `written`), beside them, or else once the handler has succeeded. Always awaited, also when
    // the handler fails after starting it: a Lambda is frozen when it answers, and the call must
    // be out by then.
    let nudged: Promise<void> | undefined;
    const nudge = () => (nudged ??= nudgeRelay(runtime, route.id));
    try {
      const output = await run(request, { ...runtime, domain: { ...runtime.domain, written: () => void nudge() } });
      await nudge();
      return output as unknown as HttpResult;
    } finally {
      await nudged;
    }
  });
}

/**
 * After a write whose statement queued domain events: the relay publishes them now rather than at
 * its next scheduled run. Never fails the request: the change and its events are stored. A write
 * refused before its statement changed anything nudges nothing (it queued nothing), so refused
 * requests cost no invocation.
 */
async function nudgeRelay(runtime: Runtime, routeId: string): Promise<void> {
  await runtime.relay.nudge().catch((error: unknown) => {
    logger.warn('outbox relay not invoked', { route: routeId, errorName: (error as Error).name });
  });
}

/**
 * Validation from the route's zod schemas, run by @middy/validator through an adapter to its
 * contract (a function returning a boolean, with `errors`), so that zod stays the one source of
 * validation, types and OpenAPI. The parsed, coerced values are handed on to the handler.
 */
function validation(route: RouteDefinition): Middleware {
  const schema = z.object({
    pathParameters: route.params ?? z.unknown(),
    queryStringParameters: route.query ?? z.strictObject({}),
    body: route.body ?? z.unknown(),
  });
  type Outcome = { input: z.output<typeof schema> } | { problems: Array<{ field: string; message: string }> };
  // Concurrent requests of one route share this middleware (the local server runs them in one
  // process): the outcome travels with its own event, never in a shared variable.
  const outcomeOf = new WeakMap<HttpEvent, Outcome>();
  const eventSchema = Object.assign(
    (event: HttpEvent) => {
      const result = schema.safeParse({
        pathParameters: event.pathParameters ?? {},
        queryStringParameters: event.queryStringParameters ?? {},
        body: route.body ? event.body : undefined,
      });
      const outcome: Outcome = result.success
        ? { input: result.data }
        : {
            problems: result.error.issues.map((issue) => ({
              field: issue.path
                .map(String)
                .join('.')
                .replace(/^pathParameters\./, 'path.')
                .replace(/^queryStringParameters\./, 'query.'),
              message: issue.message,
            })),
          };
      outcomeOf.set(event, outcome);
      eventSchema.errors = 'problems' in outcome ? outcome.problems : null;
      return result.success;
    },
    { errors: null as Array<{ field: string; message: string }> | null },
  );
  // @middy/validator calls eventSchema(event) synchronously and reads `.errors`, as an ajv
  // validate function; its types name the Ajv class.
  const validate = validator({ eventSchema: eventSchema as unknown as ValidatorOptions['eventSchema'] });
  return {
    before: async (request) => {
      try {
        await validate.before!(request as never);
      } catch {
        // Refused: the problems are this event's outcome, read below.
      }
      const outcome = outcomeOf.get(request.event);
      if (!outcome || 'problems' in outcome)
        throw new InvalidInputError('The request is not valid', outcome?.problems ?? []);
      const { pathParameters: params, queryStringParameters: query, body } = outcome.input;
      stateOf(request.context).input = { params, query, body };
    },
  };
}

/**
 * @middy/http-json-body-parser behind our own media-type check: the parser answers both a wrong
 * media type and malformed JSON with the same status, so the media type is told apart here and
 * whatever the parser still refuses is malformed JSON.
 */
function jsonBody(): Middleware {
  const parser = httpJsonBodyParser();
  return {
    before: async (request) => {
      if (!jsonMediaType.test(contentTypeOf(request.event))) {
        throw new HttpProblem(415, 'unsupported_media_type', 'The body must be JSON (Content-Type: application/json)');
      }
      try {
        await parser.before!(request as never);
      } catch {
        throw new HttpProblem(400, 'invalid_json', 'The body is not valid JSON');
      }
    },
  };
}

function identity(route: RouteDefinition): Middleware {
  return {
    before: async (request) => {
      // No authorizer runs on a public route: whatever claims arrive are not the caller's.
      if (route.access === 'public') return;
      const caller = callerFromClaims(request.event.requestContext?.authorizer?.jwt?.claims);
      if (!caller) throw new UnauthorizedError();
      stateOf(request.context).caller = caller;
      if (route.access === 'admin' && !caller.isAdmin) throw new ForbiddenError('This route needs the admin group');
    },
  };
}

function bodyLimit(maxBytes: number): Middleware {
  return {
    before: async (request) => {
      const { body, isBase64Encoded } = request.event;
      if (typeof body !== 'string') return;
      const bytes = isBase64Encoded ? Buffer.from(body, 'base64').length : Buffer.byteLength(body);
      if (bytes > maxBytes)
        throw new HttpProblem(413, 'payload_too_large', `The body is larger than ${maxBytes} bytes`);
    },
  };
}

// @middy/http-json-body-parser's own test (7.x): case-insensitive, suffixes such as +json allowed.
const jsonMediaType = /^application\/([a-z0-9.+-]+\+)?json(;|$)/i;
const contentTypeOf = (event: HttpEvent) => event.headers?.['content-type'] ?? event.headers?.['Content-Type'] ?? '';
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A JSON body must be UTF-8 (RFC 8259 §8.1). API Gateway passes a body whose bytes are not text
 * as base64 (`isBase64Encoded: true`); @middy/http-json-body-parser would decode it with
 * `Buffer.toString`, turning bad bytes into U+FFFD that then gets stored. Decode it strictly
 * here instead, and refuse a string body with lone surrogates (possible only when invoked
 * directly), so invalid text answers 400 and stores nothing. Other media types are left to the
 * parser, which answers 415.
 */
function utf8Body(): Middleware {
  return {
    before: async (request) => {
      const { body, isBase64Encoded } = request.event;
      if (typeof body !== 'string' || !jsonMediaType.test(contentTypeOf(request.event))) return;
      if (isBase64Encoded) {
        let text: string;
        try {
          text = strictUtf8.decode(Buffer.from(body, 'base64'));
        } catch {
          throw new HttpProblem(400, 'invalid_encoding', 'The body is not valid UTF-8');
        }
        request.event.body = text;
        request.event.isBase64Encoded = false;
      } else if (!body.isWellFormed()) {
        throw new HttpProblem(400, 'invalid_encoding', 'The body is not well-formed Unicode');
      }
    },
  };
}

/** A refusal of the HTTP layer itself: the body, its encoding or media type. */
class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

function responses(route: RouteDefinition): Middleware {
  const log = (event: HttpEvent, context: HttpContext, status: number, extra: Record<string, string> = {}) => {
    const state = stateOf(context);
    logger[status === 500 ? 'error' : status === 503 ? 'warn' : 'info']('request', {
      route: route.id,
      requestId: context.awsRequestId,
      apiRequestId: event.requestContext?.requestId,
      userId: state.caller?.userId,
      status,
      durationMs: Date.now() - (state.startedAt ?? Date.now()),
      ...extra,
    });
  };
  return {
    before: async (request) => {
      stateOf(request.context).startedAt = Date.now();
    },
    after: async (request) => {
      const output = request.response as unknown as { status: number; body?: unknown; html?: string };
      request.response =
        output.html !== undefined
          ? { statusCode: output.status, headers: { ...pageHeaders }, body: output.html }
          : {
              statusCode: output.status,
              headers: { ...responseHeaders },
              body: output.body === undefined ? '' : JSON.stringify(output.body),
            };
      log(request.event, request.context, output.status);
    },
    onError: async (request) => {
      const problem = toProblem(request.error);
      const headers: Record<string, string> = { ...responseHeaders };
      if ((problem.status === 429 || problem.status === 503) && problem.retryAfter) {
        headers['retry-after'] = String(problem.retryAfter);
      }
      request.response = {
        statusCode: problem.status,
        headers,
        body: JSON.stringify({
          error: {
            code: problem.code,
            message: problem.message,
            ...(problem.details ? { details: problem.details } : {}),
          },
        }),
      };
      const error = request.error as Error | undefined;
      log(
        request.event,
        request.context,
        problem.status,
        problem.status === 500
          ? { errorName: error?.name ?? 'Error', errorMessage: error?.message ?? '', stack: error?.stack ?? '' }
          : problem.status === 503
            ? { code: problem.code, errorName: error?.name ?? 'Error', errorMessage: error?.message ?? '' }
            : { code: problem.code },
      );
    },
  };
}

interface Problem {
  status: number;
  code: DomainErrorCode | HttpErrorCode;
  message: string;
  details?: unknown;
  retryAfter?: number;
}

function toProblem(error: unknown): Problem {
  if (error instanceof DomainError) {
    const retryAfter =
      error instanceof RateLimitedError || error instanceof UnavailableError ? error.retryAfterSeconds : undefined;
    return { status: error.status, code: error.code, message: error.message, details: error.details, retryAfter };
  }
  if (error instanceof HttpProblem)
    return { status: error.status, code: error.code, message: error.message, details: error.details };
  if (isDatabaseUnavailable(error)) return toProblem(new UnavailableError(5, error));
  return { status: 500, code: 'internal_error', message: 'Something went wrong on our side' };
}
