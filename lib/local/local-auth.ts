import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';

/**
 * Local stand-in for Cognito: an RSA key pair kept under .data/, tokens shaped like Cognito
 * access tokens, and verification the way API Gateway's JWT authorizer does it (signature
 * against the JWKS, issuer, audience or client_id, expiry, RS256 only).
 */
export interface LocalAuthConfig {
  keyFile: string;
  issuer: string;
  audience: string;
}

export function localAuthConfig(env: NodeJS.ProcessEnv = process.env): LocalAuthConfig {
  return {
    keyFile: env.LOCAL_JWT_KEY_FILE ?? '.data/local-jwt-key.json',
    issuer: env.LOCAL_JWT_ISSUER ?? 'https://cognito-idp.local.amazonaws.com/local_messaging',
    audience: env.LOCAL_JWT_AUDIENCE ?? 'local-messaging-client',
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

export async function createVerifier(config: LocalAuthConfig) {
  const { publicJwk } = await loadOrCreateKey(config.keyFile);
  const jwks = createLocalJWKSet({ keys: [publicJwk] });
  return {
    jwks: { keys: [publicJwk] },
    async verify(authorization: string | undefined): Promise<Verification> {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!match) return { ok: false, reason: 'missing bearer token' };
      try {
        const { payload } = await jwtVerify(match[1]!, jwks, { issuer: config.issuer, algorithms: ['RS256'] });
        // API Gateway accepts the token when `aud` or `client_id` is one of the configured audiences.
        const audiences = Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [];
        if (!audiences.includes(config.audience) && payload.client_id !== config.audience) {
          return { ok: false, reason: 'audience' };
        }
        if (typeof payload.sub !== 'string') return { ok: false, reason: 'sub' };
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
    flat[name] = Array.isArray(value) ? `[${value.join(' ')}]` : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return flat;
}
