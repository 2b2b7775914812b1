import type { Jwk } from 'aws-jwt-verify/jwk';
import type { JwtHeader, JwtPayload } from 'aws-jwt-verify/jwt-model';

/**
 * The checks of API Gateway's HTTP API JWT authorizer that aws-jwt-verify does not make itself,
 * written once for the two places that verify tokens as that authorizer does: the local stack's
 * stand-in for it (lib/local/local-auth.ts) and the WebSocket API's `$connect` authorizer
 * (functions/ws/ws-authorize.ts). aws-jwt-verify checks the signature against the JWKS by `kid`
 * (a token without one is refused), `iss`, and `exp` and `nbf` when present.
 *
 * From "Control access to HTTP APIs with JWT authorizers in API Gateway"
 * (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):
 * "Currently, only RSA-based algorithms are supported"; `exp` "must be after the current time";
 * `iat` "must be before the current time"; `aud` or `client_id` "must match one of the audience
 * entries", and from "Troubleshooting issues with HTTP API JWT authorizers": "API Gateway
 * validates client_id only if aud is not present". No route has authorizationScopes, so scopes
 * are not checked.
 *
 * Returns aws-jwt-verify's `customJwtCheck`: it throws with the reason a token is refused.
 */
export function apiGatewayJwtChecks(audiences: readonly string[]) {
  return ({ header, payload, jwk }: { header: JwtHeader; payload: JwtPayload; jwk: Jwk }): void => {
    // aws-jwt-verify verifies RS256/384/512 with RSA keys (and EC and EdDSA, which API Gateway does not).
    if (jwk.kty !== 'RSA' || !header.alg?.startsWith('RS')) throw new Error('not an RSA signature');
    // aws-jwt-verify checks `exp` only when present; API Gateway requires it.
    if (typeof payload.exp !== 'number') throw new Error('the token has no exp');
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000) {
      throw new Error('the token was issued in the future');
    }
    const claimed =
      payload.aud === undefined ? [payload.client_id] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!claimed.some((a) => typeof a === 'string' && audiences.includes(a))) {
      throw new Error('the token does not have a valid audience');
    }
  };
}
