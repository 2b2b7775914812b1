import { domainErrorCodes } from '../messaging/errors';

/** The codes only the HTTP layer answers: the body, its encoding and media type, and the unexpected. */
export const httpErrorCodes = [
  'payload_too_large',
  'invalid_encoding',
  'unsupported_media_type',
  'invalid_json',
  'internal_error',
] as const;
export type HttpErrorCode = (typeof httpErrorCodes)[number];

/** Every `error.code` the API can answer: the enum of the OpenAPI error schema. */
export const apiErrorCodes = [...domainErrorCodes, ...httpErrorCodes] as const;
