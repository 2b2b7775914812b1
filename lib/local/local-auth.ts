import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { JwtBaseError } from 'aws-jwt-verify/error';
import type { Jwks } from 'aws-jwt-verify/jwk';
import { JwtVerifier } from 'aws-jwt-verify/jwt-verifier';
import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { localSettings } from '../config';
import { apiGatewayJwtChecks } from '../http/jwt-authorizer-rules';

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

export type Verification = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string };

/**
 * API Gateway's HTTP API JWT authorizer, no more and no fewer. From "Control access to HTTP APIs
 * with JWT authorizers in API Gateway" (docs.aws.amazon.com/apigateway/latest/developerguide/
 * http-api-jwt-authorizer.html), "Authorizing API requests with a JWT authorizer":
 *
 *   1. Check the identitySource for a token. The identitySource can include only the token, or
 *      the token prefixed with Bearer.
 *   2. Decode the token.
 *   3. Check the token's algorithm and signature by using the public key that is fetched from the
 *      issuer's jwks_uri. Currently, only RSA-based algorithms are supported.
 *   4. Validate claims (kid, iss, aud or client_id, exp, nbf, iat, scope).
 *   If any of these steps fail, API Gateway denies the API request.
 *
 * Verified with aws-jwt-verify, as the WebSocket authorizer verifies, and the claims with the
 * rules both share (lib/http/jwt-authorizer-rules.ts). `sub` is not the authorizer's business
 * (the Lambda answers 401 without one). The JWKS is the stand-in's one key, given to the verifier
 * up front and read synchronously: a token signed with any other key names a `kid` it does not
 * know and is refused without a fetch. (aws-jwt-verify checks an RS256 signature with node:crypto
 * in about 60 µs here, against 150 µs for jose's WebCrypto path that this used before.) One check
 * more than API Gateway documents: aws-jwt-verify refuses a `sub`, `scope` or `jti` that is not a
 * string, which no Cognito token has.
 */
export async function createVerifier(config: LocalAuthConfig) {
  const { publicJwk } = await loadOrCreateKey(config.keyFile);
  const jwks = { keys: [publicJwk] } as Jwks;
  const verifier = JwtVerifier.create({
    issuer: config.issuer,
    jwksUri: `${config.issuer}/.well-known/jwks.json`,
    audience: null,
    customJwtCheck: apiGatewayJwtChecks([config.audience]),
  });
  verifier.cacheJwks(jwks);
  const verified = new Map<string, { claims: Record<string, unknown>; recheckAt: number }>();
  return {
    jwks,
    async verify(authorization: string | undefined): Promise<Verification> {
      const raw = authorization ?? '';
      const token = raw.startsWith('Bearer ') ? raw.slice('Bearer '.length) : raw;
      if (!token) return { ok: false, reason: 'missing token' };
      // A token verified before gets the same answer until it nears its expiry: with one fixed key,
      // every other check (signature, issuer, audience, nbf, iat) gives the same result for the same
      // string later. An app sends one token for many requests, and under load verifying each again
      // was a tenth of the stack's CPU (RS256, with node:crypto preparing the key every time).
      const known = verified.get(token);
      if (known && Date.now() < known.recheckAt) return { ok: true, claims: known.claims };
      try {
        const claims = verifier.verifySync(token) as Record<string, unknown>;
        if (verified.size >= verifiedTokensKept) verified.clear();
        // Within the last second before `exp` the verifier decides again, so expiry is its call.
        verified.set(token, { claims, recheckAt: Number(claims.exp) * 1000 - 1000 });
        return { ok: true, claims };
      } catch (error) {
        return { ok: false, reason: error instanceof JwtBaseError ? error.constructor.name : (error as Error).message };
      }
    },
  };
}

/** Tokens whose verification the stand-in keeps: more than the benchmark's users, few enough to stay small. */
const verifiedTokensKept = 10_000;

/** How API Gateway's payload 2.0 passes claims on: every value a string, arrays as "[a b]". */
export function flattenClaims(claims: Record<string, unknown>): Record<string, string> {
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
