import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { localSettings } from '../config';

/**
 * Local stand-in for Cognito: an RSA key pair kept under .data/, tokens shaped like Cognito
 * access tokens, and verification exactly as strict as API Gateway's HTTP API JWT authorizer
 * documents (see `createVerifier`).
 */
export interface LocalAuthConfig {
  keyFile: string;
  issuer: string;
  audience: string;
}

export function localAuthConfig(env: NodeJS.ProcessEnv = process.env): LocalAuthConfig {
  const settings = localSettings(env);
  return {
    keyFile: settings.LOCAL_JWT_KEY_FILE,
    issuer: settings.LOCAL_JWT_ISSUER,
    audience: settings.LOCAL_JWT_AUDIENCE,
  };
}

interface StoredKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** Loads the key pair, creating it on first use; `npm run token` and `npm start` share it. */
export async function loadOrCreateKey(keyFile: string): Promise<StoredKey> {
  if (existsSync(keyFile)) return JSON.parse(readFileSync(keyFile, 'utf8')) as StoredKey;
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const stored: StoredKey = {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
  mkdirSync(dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, JSON.stringify(stored), { mode: 0o600 });
  return stored;
}

export interface TokenRequest {
  sub: string;
  groups?: string[];
  expiresInSeconds?: number;
}

/** A token with the claims of a Cognito access token. */
export async function signLocalToken(config: LocalAuthConfig, request: TokenRequest, key?: StoredKey): Promise<string> {
  const { privateJwk } = key ?? (await loadOrCreateKey(config.keyFile));
  const privateKey = await importJWK(privateJwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload & Record<string, unknown> = {
    sub: request.sub,
    token_use: 'access',
    scope: 'aws.cognito.signin.user.admin',
    auth_time: now,
    client_id: config.audience,
    username: request.sub,
    origin_jti: randomUUID(),
    event_id: randomUUID(),
  };
  if (request.groups?.length) claims['cognito:groups'] = request.groups;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: privateJwk.kid! })
    .setIssuer(config.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + (request.expiresInSeconds ?? 3600))
    .setJti(randomUUID())
    .sign(privateKey);
}

export type Verification = { ok: true; claims: JWTPayload } | { ok: false; reason: string };

/** "Currently, only RSA-based algorithms are supported." The key's own `alg` narrows this further. */
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/**
 * The checks of API Gateway's HTTP API JWT authorizer, no more and no fewer. From "Control access
 * to HTTP APIs with JWT authorizers in API Gateway" (docs.aws.amazon.com/apigateway/latest/
 * developerguide/http-api-jwt-authorizer.html), "Authorizing API requests with a JWT authorizer":
 *
 *   1. Check the identitySource for a token. The identitySource can include only the token, or
 *      the token prefixed with Bearer.
 *   2. Decode the token.
 *   3. Check the token's algorithm and signature by using the public key that is fetched from the
 *      issuer's jwks_uri. Currently, only RSA-based algorithms are supported.
 *   4. Validate claims. API Gateway evaluates the following token claims:
 *      - kid – The token must have a header claim that matches the key in the jwks_uri that
 *        signed the token.
 *      - iss – Must match the issuer that is configured for the authorizer.
 *      - aud or client_id – Must match one of the audience entries that is configured for the
 *        authorizer.
 *      - exp – Must be after the current time in UTC.
 *      - nbf – Must be before the current time in UTC.
 *      - iat – Must be before the current time in UTC.
 *      - scope or scp – The token must include at least one of the scopes in the route's
 *        authorizationScopes.
 *   If any of these steps fail, API Gateway denies the API request.
 *
 * and from "Troubleshooting issues with HTTP API JWT authorizers": "API Gateway validates
 * client_id only if aud is not present. When both aud and client_id are present, API Gateway
 * evaluates aud."
 *
 * So: `exp` is required (it "must be after" now); `nbf` and `iat` are checked when present
 * (Cognito always sets `iat`); no route has authorizationScopes, so scopes are not checked;
 * `sub` is not the authorizer's business (the Lambda answers 401 without one).
 */
export async function createVerifier(config: LocalAuthConfig) {
  const { publicJwk } = await loadOrCreateKey(config.keyFile);
  const jwks = createLocalJWKSet({ keys: [publicJwk] });
  return {
    jwks: { keys: [publicJwk] },
    async verify(authorization: string | undefined): Promise<Verification> {
      const raw = authorization ?? '';
      const token = raw.startsWith('Bearer ') ? raw.slice('Bearer '.length) : raw;
      if (!token) return { ok: false, reason: 'missing token' };
      try {
        const header = decodeProtectedHeader(token);
        // Without a kid, jose would try the only key in the set; API Gateway refuses.
        if (typeof header.kid !== 'string' || !header.kid) return { ok: false, reason: 'the token has no kid' };
        const { payload } = await jwtVerify(token, jwks, {
          issuer: config.issuer,
          algorithms: RSA_ALGORITHMS,
          requiredClaims: ['exp'], // jose: exp must be after now, nbf not after now
        });
        if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000) {
          return { ok: false, reason: 'the token was issued in the future' };
        }
        if (payload.aud !== undefined) {
          const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
          if (!audiences.includes(config.audience))
            return { ok: false, reason: 'the token does not have a valid audience' };
        } else if (payload.client_id !== config.audience) {
          return { ok: false, reason: 'the token does not have a valid audience' };
        }
        return { ok: true, claims: payload };
      } catch (error) {
        return { ok: false, reason: (error as Error).name };
      }
    },
  };
}

/** How API Gateway's payload 2.0 passes claims on: every value a string, arrays as "[a b]". */
export function flattenClaims(claims: JWTPayload): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(claims)) {
    flat[name] = Array.isArray(value)
      ? `[${value.join(' ')}]`
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  }
  return flat;
}
