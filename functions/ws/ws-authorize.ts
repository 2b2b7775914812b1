import { FetchError, JwksNotAvailableInCacheError, JwtBaseError, NonRetryableFetchError } from 'aws-jwt-verify/error';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { JwtVerifier } from 'aws-jwt-verify/jwt-verifier';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { ConfigurationError } from '../../lib/config';
import { apiGatewayJwtChecks } from '../../lib/http/jwt-authorizer-rules';
import { webSocketAuthorizer } from '../../lib/realtime/routes';
import { config } from '../../lib/runtime';
import { logger } from '../commons/logger';

/**
 * The Lambda REQUEST authorizer of the WebSocket API's `$connect`. Browsers cannot set headers on
 * a WebSocket, so the Cognito access token comes in the query string (`?token=`), and API Gateway
 * answers 401 without invoking us when it is missing (the identity source). We check it exactly
 * as the HTTP API's JWT authorizer checks the Authorization header (lib/http/jwt-authorizer-rules.ts):
 * the RS256 signature against the pool's JWKS by `kid`, `iss`, the app client (`client_id`, or
 * `aud` when present), `exp` in the future, `nbf`/`iat` not in the future; and, since only access
 * tokens are meant for APIs, `token_use` = `access` (an id token carries the same `sub`).
 *
 * Answer (AWS: "Control access to WebSocket APIs with AWS Lambda REQUEST authorizers"): an IAM
 * policy allowing `execute-api:Invoke` on the `$connect` methodArn, with the user in the context,
 * which API Gateway hands to every route of the connection as `requestContext.authorizer`
 * (`principalId`, `userId`, `groups`). A bad token throws `Unauthorized`, which API Gateway turns
 * into 401; anything else thrown (the JWKS cannot be fetched) is a 500, so an outage of Cognito is
 * not reported to the client as a bad token.
 */

/** Read once at cold start: without an issuer or an app client every token would be refused. */
const { issuer, clientIds, jwksUri } = config.auth;
if (!issuer)
  throw new ConfigurationError('Invalid configuration: AUTH_ISSUER must be set for the WebSocket authorizer');
if (clientIds.length === 0)
  throw new ConfigurationError('Invalid configuration: AUTH_CLIENT_IDS must name at least one app client');

/**
 * aws-jwt-verify fetches the JWKS with Node's `https` module, which refuses `http:` URLs; the
 * deployed pool's JWKS is https. The local stack serves its stand-in JWKS over plain http on the
 * loopback, so for an http URL (only ever configured locally) the same request is made with
 * `fetch`, with the library's semantics: a non-200 answer is not retried.
 */
const plainHttpFetcher: Fetcher = {
  async fetch(uri) {
    const response = await fetch(uri, { signal: AbortSignal.timeout(3000) });
    if (response.status !== 200) {
      throw new NonRetryableFetchError(uri, `Status code is ${response.status}, expected 200`);
    }
    return response.arrayBuffer();
  },
};

const keysUri = jwksUri ?? `${issuer}/.well-known/jwks.json`;
const checkedAsApiGatewayDoes = apiGatewayJwtChecks(clientIds);

/**
 * Module scope: the verifier keeps the fetched JWKS (and the imported keys) for the container's
 * life, and fetches again only for a `kid` it has not seen (key rotation), at most every 10 s.
 */
const verifier = JwtVerifier.create(
  {
    issuer,
    jwksUri: keysUri,
    // Cognito access tokens carry the app client in `client_id`, not `aud`: the rules check it.
    audience: null,
    customJwtCheck: (token) => {
      checkedAsApiGatewayDoes(token);
      if (token.payload.token_use !== 'access') throw new Error('not an access token');
      if (typeof token.payload.sub !== 'string' || !token.payload.sub) throw new Error('the token has no sub');
    },
  },
  {
    jwksCache: new SimpleJwksCache(new URL(keysUri).protocol === 'http:' ? { fetcher: plainHttpFetcher } : undefined),
  },
);

export interface WebSocketAuthorizerContext {
  /** The Cognito user (`sub`), as `ws-connect` reads it from `requestContext.authorizer.userId`. */
  userId: string;
  /** The user's Cognito groups, comma-joined (`""`: none); context values must be strings. */
  groups: string;
}

export type WebSocketAuthorizerResult = APIGatewayAuthorizerResult & { context: WebSocketAuthorizerContext };

export async function handler(
  event: APIGatewayRequestAuthorizerEvent,
  context: Context,
): Promise<WebSocketAuthorizerResult> {
  const token = event.queryStringParameters?.[webSocketAuthorizer.tokenParameter];
  if (!token) throw new Error('Unauthorized');
  let payload: Awaited<ReturnType<typeof verifier.verify>>;
  try {
    payload = await verifier.verify(token);
  } catch (error) {
    // The JWKS could not be had: our failure, not the caller's (API Gateway answers 500).
    if (error instanceof FetchError || error instanceof JwksNotAvailableInCacheError) {
      logger.error('jwks unavailable', { requestId: context.awsRequestId, error: error.message });
      throw error;
    }
    // Never the token itself; the reason is the library's or ours, without claims' values.
    logger.info('token refused', {
      requestId: context.awsRequestId,
      reason: error instanceof JwtBaseError ? error.constructor.name : (error as Error).message,
    });
    throw new Error('Unauthorized');
  }
  const sub = payload.sub as string;
  const groups = payload['cognito:groups'];
  return {
    principalId: sub,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context: {
      userId: sub,
      groups: Array.isArray(groups) ? groups.filter((g) => typeof g === 'string').join(',') : '',
    },
  };
}
