/**
 * Every code a domain error can carry, written once: the OpenAPI error schema lists them (with
 * the HTTP layer's own, lib/http/error-codes.ts) and a code outside this list fails `tsc`.
 */
export const domainErrorCodes = [
  'invalid_input',
  'forbidden',
  'not_found',
  'conversation_closed',
  'conversation_full',
  'order_conversation_exists',
  'message_not_editable',
  'message_deleted',
  'too_many_reactions',
  'attachment_not_ready',
  'attachment_in_use',
  'attachment_rejected',
  'attachment_type_not_allowed',
  'attachment_too_large',
  'unknown_users',
  'rate_limited',
  'unavailable',
  'unauthorized',
] as const;
export type DomainErrorCode = (typeof domainErrorCodes)[number];

/**
 * Domain errors. Each carries the HTTP status it maps to and a stable machine-readable code, so
 * the HTTP layer maps them without knowing the domain, and the domain never imports HTTP.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  abstract readonly code: DomainErrorCode;
  readonly details?: unknown;
  constructor(message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }
}

export class InvalidInputError extends DomainError {
  readonly status = 400;
  readonly code = 'invalid_input';
}

export class ForbiddenError extends DomainError {
  readonly status = 403;
  readonly code = 'forbidden';
}

/** Used both for what does not exist and for what the caller may not see: the bodies are identical. */
export class NotFoundError extends DomainError {
  readonly status = 404;
  readonly code = 'not_found';
  constructor(what: 'conversation' | 'message' | 'participant' | 'order' | 'route' | 'attachment') {
    super(`${what[0]!.toUpperCase()}${what.slice(1)} not found`);
  }
}

export class ConflictError extends DomainError {
  readonly status = 409;
  readonly code:
    | 'conversation_closed'
    | 'conversation_full'
    | 'order_conversation_exists'
    | 'message_not_editable'
    | 'message_deleted'
    | 'too_many_reactions'
    | 'attachment_not_ready'
    | 'attachment_in_use';
  constructor(code: ConflictError['code'], message: string, details?: unknown) {
    super(message, details);
    this.code = code;
  }
}

/** The check found the file is not what its upload declared; it was deleted. */
export class AttachmentRejectedError extends DomainError {
  readonly status = 422;
  readonly code = 'attachment_rejected';
  constructor(attachmentId: string) {
    super(`Attachment ${attachmentId} was rejected: its content does not match its declared type`, { attachmentId });
  }
}

/** An upload declaring a media type outside the configured list. */
export class AttachmentTypeError extends DomainError {
  readonly status = 415;
  readonly code = 'attachment_type_not_allowed';
  constructor(readonly allowed: string[]) {
    super(`contentType must be one of: ${allowed.join(', ')}`, { field: 'contentType', allowed });
  }
}

/** An upload declaring more bytes than the configured maximum. */
export class AttachmentTooLargeError extends DomainError {
  readonly status = 413;
  readonly code = 'attachment_too_large';
  constructor(readonly maxBytes: number) {
    super(`size must be at most ${maxBytes} bytes`, { field: 'size', maxBytes });
  }
}

export class UnknownUsersError extends DomainError {
  readonly status = 422;
  readonly code = 'unknown_users';
  constructor(readonly userIds: string[]) {
    super(`Unknown user ids: ${userIds.join(', ')}`, { userIds });
  }
}

export class RateLimitedError extends DomainError {
  readonly status = 429;
  readonly code = 'rate_limited';
  constructor(
    readonly retryAfterSeconds: number,
    what = 'messages',
  ) {
    super(`Too many ${what}; retry after ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

/** The database cannot be reached or is resuming; nothing was written. */
export class UnavailableError extends DomainError {
  readonly status = 503;
  readonly code = 'unavailable';
  constructor(
    readonly retryAfterSeconds: number,
    cause?: unknown,
  ) {
    super('The service is temporarily unavailable; retry shortly', { retryAfterSeconds });
    if (cause) this.cause = cause;
  }
}

/** No valid caller: behind API Gateway's authorizer this never happens; it guards direct invocations. */
export class UnauthorizedError extends DomainError {
  readonly status = 401;
  readonly code = 'unauthorized';
  constructor() {
    super('A valid token with a sub claim is required');
  }
}
