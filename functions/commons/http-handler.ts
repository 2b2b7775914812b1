import middy, { type MiddlewareObj } from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import validator from '@middy/validator';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { callerFromClaims } from '../../lib/http/identity';
import type { RouteDefinition } from '../../lib/http/routes';
import { DomainError, ForbiddenError, RateLimitedError, UnavailableError } from '../../lib/messaging/errors';
import type { Caller, ParticipantRole } from '../../lib/messaging/types';
import { config } from './config';
import { logger } from './logger';
import { useRuntime, type Runtime } from './runtime';

export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

type Out<T> = T extends z.ZodMiniType ? z.output<T> : undefined;

/** What a handler receives: the validated input and the caller. */
export interface HttpInput<R extends RouteDefinition> {
  caller: Caller;
  params: Out<R['params']>;
  query: Out<R['query']>;
  body: Out<R['body']>;
}

export interface HttpOutput {
  status: number;
  body?: unknown;
}

/** Sent on every response, errors included. nosniff and the CSP keep browsers from rendering content as HTML. */
export const responseHeaders = {
  'content-type': 'application/json; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
} as const;

const validated = new WeakMap<object, { params: unknown; query: unknown; body: unknown }>();
const callers = new WeakMap<object, Caller>();
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
 */
export function httpHandler<R extends RouteDefinition>(
  route: R,
  run: (input: HttpInput<R>, runtime: Runtime) => Promise<HttpOutput>,
) {
  const stack = middy<HttpEvent, HttpResult>()
    .use(responses(route))
    .use(bodyLimit(config.maxBodyBytes))
    .use(identity(route));
  if (route.body) stack.use(utf8Body()).use(httpJsonBodyParser());
  stack.use(validator({ eventSchema: zodEventSchema(route) }));
  return stack.handler(async (event) => {
    const runtime = await useRuntime();
    const caller = callers.get(event)!;
    if (recordedRoles.get(caller.userId) !== caller.role) {
      await runtime.messaging.recordUser(caller.userId, caller.role);
      recordedRoles.set(caller.userId, caller.role);
    }
    const input = validated.get(event)!;
    const output = await run({ caller, ...input } as HttpInput<R>, runtime);
    return output as unknown as HttpResult;
  });
}

/**
 * Adapts a zod schema to @middy/validator's contract (a function returning a boolean, with
 * `errors`), so that zod stays the one source of validation, types and OpenAPI. The parsed,
 * coerced values are kept for the handler.
 */
function zodEventSchema(route: RouteDefinition) {
  const schema = z.object({
    pathParameters: route.params ?? z.unknown(),
    queryStringParameters: route.query ?? z.strictObject({}),
    body: route.body ?? z.unknown(),
  });
  const validate = Object.assign(
    (event: HttpEvent) => {
      const result = schema.safeParse({
        pathParameters: event.pathParameters ?? {},
        queryStringParameters: event.queryStringParameters ?? {},
        body: route.body ? event.body : undefined,
      });
      if (result.success) {
        validate.errors = null;
        validated.set(event, {
          params: result.data.pathParameters,
          query: result.data.queryStringParameters,
          body: result.data.body,
        });
        return true;
      }
      validate.errors = result.error.issues.map((issue) => ({
        field: issue.path.map(String).join('.').replace(/^pathParameters\./, 'path.').replace(/^queryStringParameters\./, 'query.'),
        message: issue.message,
      }));
      return false;
    },
    { errors: null as Array<{ field: string; message: string }> | null },
  );
  return validate;
}

function identity(route: RouteDefinition): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    before: async (request) => {
      const caller = callerFromClaims(request.event.requestContext?.authorizer?.jwt?.claims);
      if (!caller) throw new UnauthorizedError();
      if (route.access === 'admin' && !caller.isAdmin) throw new ForbiddenError('This route needs the admin group');
      callers.set(request.event, caller);
    },
  };
}

/** Behind API Gateway's authorizer this never happens; it guards direct invocations. */
class UnauthorizedError extends DomainError {
  readonly status = 401;
  readonly code = 'unauthorized';
  constructor() {
    super('A valid token with a sub claim is required');
  }
}

function bodyLimit(maxBytes: number): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    before: async (request) => {
      const { body, isBase64Encoded } = request.event;
      if (typeof body !== 'string') return;
      const bytes = isBase64Encoded ? Buffer.from(body, 'base64').length : Buffer.byteLength(body);
      if (bytes > maxBytes) throw new HttpProblem(413, 'payload_too_large', `The body is larger than ${maxBytes} bytes`);
    },
  };
}

const jsonMediaType = /^application\/(.+\+)?json($|;.+)/; // @middy/http-json-body-parser's test
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A JSON body must be UTF-8 (RFC 8259 §8.1). API Gateway passes a body whose bytes are not text
 * as base64 (`isBase64Encoded: true`); @middy/http-json-body-parser would decode it with
 * `Buffer.toString`, turning bad bytes into U+FFFD that then gets stored. Decode it strictly
 * here instead, and refuse a string body with lone surrogates (possible only when invoked
 * directly), so invalid text answers 400 and stores nothing. Other media types are left to the
 * parser, which answers 415.
 */
function utf8Body(): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    before: async (request) => {
      const { body, isBase64Encoded, headers } = request.event;
      if (typeof body !== 'string' || !jsonMediaType.test(headers?.['content-type'] ?? headers?.['Content-Type'] ?? '')) return;
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

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

function responses(route: RouteDefinition): MiddlewareObj<HttpEvent, HttpResult> {
  const startedAt = new WeakMap<object, number>();
  const log = (event: HttpEvent, context: Context, status: number, extra: Record<string, string> = {}) =>
    logger[status === 500 ? 'error' : status === 503 ? 'warn' : 'info']('request', {
      route: route.id,
      requestId: context.awsRequestId,
      apiRequestId: event.requestContext?.requestId,
      userId: callers.get(event)?.userId,
      status,
      durationMs: Date.now() - (startedAt.get(event) ?? Date.now()),
      ...extra,
    });
  return {
    before: async (request) => {
      startedAt.set(request.event, Date.now());
    },
    after: async (request) => {
      const output = request.response as unknown as HttpOutput;
      request.response = {
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
          error: { code: problem.code, message: problem.message, ...(problem.details ? { details: problem.details } : {}) },
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
  code: string;
  message: string;
  details?: unknown;
  retryAfter?: number;
}

function toProblem(error: unknown): Problem {
  if (error instanceof DomainError) {
    const retryAfter = error instanceof RateLimitedError || error instanceof UnavailableError ? error.retryAfterSeconds : undefined;
    return { status: error.status, code: error.code, message: error.message, details: error.details, retryAfter };
  }
  if (error instanceof HttpProblem) return { ...error, message: error.message };
  const e = error as { statusCode?: number; message?: string; cause?: { package?: string; data?: unknown } } | undefined;
  if (e?.cause?.package === '@middy/http-json-body-parser') {
    return e.message === 'Unsupported Media Type'
      ? { status: 415, code: 'unsupported_media_type', message: 'The body must be JSON (Content-Type: application/json)' }
      : { status: 400, code: 'invalid_json', message: 'The body is not valid JSON' };
  }
  if (e?.cause?.package === '@middy/validator' && e.statusCode === 400) {
    return { status: 400, code: 'invalid_input', message: 'The request is not valid', details: e.cause.data };
  }
  if (isDatabaseUnavailable(error)) return toProblem(new UnavailableError(5, error));
  return { status: 500, code: 'internal_error', message: 'Something went wrong on our side' };
}

const unavailableNames = new Set(['DatabaseResumingException', 'DatabaseUnavailableException', 'DatabaseNotFoundException', 'ServiceUnavailableError', 'TimeoutError']);
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

/** The database could not be reached or is resuming: nothing was written, a retry later is right. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e) return false;
  if (e.name && unavailableNames.has(e.name)) return true;
  if (e.code && unavailableCodes.has(e.code)) return true;
  if (e.name === 'AggregateError') return true; // node's net errors when every address refused
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(e.message ?? '');
}
