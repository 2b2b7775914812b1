import { localSettings } from '../config';
import { routeMethods } from '../http/routes';
import { stageConfig } from '../infra/stage-config';

/**
 * The deployed HTTP API's CORS configuration (lib/infra/messaging-stack.ts, `corsPreflight`),
 * for the local stack, and what API Gateway does with it. From "Configure CORS for HTTP APIs in
 * API Gateway" (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html):
 *
 *   "If you configure CORS for an API, API Gateway automatically sends a response to preflight
 *   OPTIONS requests, even if there isn't an OPTIONS route configured for your API. For a CORS
 *   request, API Gateway adds the configured CORS headers to the response from an integration."
 *   "If you configure CORS for an API, API Gateway ignores CORS headers returned from your
 *   backend integration."
 *   "To return CORS headers, your request must contain an origin header. For the OPTIONS method,
 *   your request must contain an origin header and an Access-Control-Request-Method header."
 *   allowOrigins examples: "https://www.example.com", "* (allow all origins)",
 *   "https://* (allow any origin that begins with https://)".
 */
export interface CorsConfiguration {
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds: number;
}

/** The same methods, headers and max age as the stack's `corsPreflight` (keep the two in step). */
const deployed = {
  allowMethods: [...routeMethods],
  allowHeaders: ['authorization', 'content-type'],
  exposeHeaders: ['retry-after'],
  maxAgeSeconds: 3600,
};

/**
 * `CORS_ORIGINS` (comma-separated), like the stack's `corsOrigins` context; unset, the dev
 * stage's default (`http://localhost:3000`); empty, no CORS (as prod without corsOrigins).
 */
export function localCorsConfiguration(env: NodeJS.ProcessEnv = process.env): CorsConfiguration | undefined {
  const configured = localSettings(env).CORS_ORIGINS;
  const origins =
    configured === undefined
      ? stageConfig(() => undefined).corsOrigins
      : configured
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  return origins.length ? { allowOrigins: origins, ...deployed } : undefined;
}

/** The Access-Control-Allow-Origin value for this origin, or undefined when it is not allowed. */
export function allowedOrigin(cors: CorsConfiguration, origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  for (const allowed of cors.allowOrigins) {
    if (allowed === '*') return '*';
    if (allowed === origin) return origin;
    if (allowed.endsWith('*') && origin.startsWith(allowed.slice(0, -1))) return origin;
  }
  return undefined;
}

/** The answer to a preflight: 204, with the configured headers when the origin is allowed. */
export function preflightHeaders(cors: CorsConfiguration, origin: string | undefined): Record<string, string> {
  const allow = allowedOrigin(cors, origin);
  if (!allow) return {};
  return {
    'access-control-allow-origin': allow,
    'access-control-allow-methods': cors.allowMethods.join(','),
    'access-control-allow-headers': cors.allowHeaders.join(','),
    'access-control-max-age': String(cors.maxAgeSeconds),
  };
}

/** Headers added to an integration's response for a CORS request from an allowed origin. */
export function responseCorsHeaders(cors: CorsConfiguration, origin: string | undefined): Record<string, string> {
  const allow = allowedOrigin(cors, origin);
  if (!allow) return {};
  return {
    'access-control-allow-origin': allow,
    ...(cors.exposeHeaders.length ? { 'access-control-expose-headers': cors.exposeHeaders.join(',') } : {}),
  };
}
