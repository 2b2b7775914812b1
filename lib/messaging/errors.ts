/**
 * Domain errors. Each carries the HTTP status it maps to and a stable machine-readable code, so
 * the HTTP layer maps them without knowing the domain, and the domain never imports HTTP.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
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
  constructor(what: 'conversation' | 'message' | 'participant' | 'order' | 'route') {
    super(`${what[0]!.toUpperCase()}${what.slice(1)} not found`);
  }
}

export class ConflictError extends DomainError {
  readonly status = 409;
  readonly code: string;
  constructor(code: string, message: string, details?: unknown) {
    super(message, details);
    this.code = code;
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
  constructor(readonly retryAfterSeconds: number, cause?: unknown) {
    super('The service is temporarily unavailable; retry shortly', { retryAfterSeconds });
    if (cause) this.cause = cause;
  }
}
