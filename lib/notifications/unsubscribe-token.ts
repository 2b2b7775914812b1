import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The token of a one-click unsubscribe link (RFC 8058): `<payload>.<mac>`, the payload naming the
 * user and the purpose (base64url JSON), the MAC an HMAC-SHA256 of it under the unsubscribe key
 * (node:crypto), so it turns off nobody else's email and is no use as anything else. An HMAC
 * rather than a JWT library: the one function that checks it stays 12 KB smaller. It does not
 * expire: a link in an old email must still work, and all it can do is turn email off. Rotating
 * the key voids every link sent before.
 */
const PURPOSE = 'email-unsubscribe';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const macOf = (key: Uint8Array, payload: string) =>
  createHmac('sha256', key).update(`messaging.${PURPOSE}.v1.${payload}`).digest();

export async function signUnsubscribeToken(key: Uint8Array, userId: string): Promise<string> {
  const payload = Buffer.from(JSON.stringify({ sub: userId, purpose: PURPOSE })).toString('base64url');
  return `${payload}.${macOf(key, payload).toString('base64url')}`;
}

/** The user the token names, or null when it is not one of ours (forged, altered, another purpose). */
export async function verifyUnsubscribeToken(key: Uint8Array, token: string): Promise<string | null> {
  const [payload, mac, ...rest] = token.split('.');
  if (!payload || !mac || rest.length) return null;
  const given = Buffer.from(mac, 'base64url');
  const expected = macOf(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      sub?: unknown;
      purpose?: unknown;
    };
    return claims.purpose === PURPOSE && typeof claims.sub === 'string' && UUID.test(claims.sub) ? claims.sub : null;
  } catch {
    return null;
  }
}

/**
 * The key, once per container: the local stack gives it in UNSUBSCRIBE_KEY; in AWS it is the
 * value of the secret UNSUBSCRIBE_SECRET_ARN names (read with the SDK the runtime ships).
 */
let cached: Promise<Uint8Array> | undefined;

export function unsubscribeKey(settings: {
  unsubscribeKey?: string;
  unsubscribeSecretArn?: string;
}): Promise<Uint8Array> {
  cached ??= loadKey(settings).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function loadKey(settings: { unsubscribeKey?: string; unsubscribeSecretArn?: string }): Promise<Uint8Array> {
  if (settings.unsubscribeKey) return new TextEncoder().encode(settings.unsubscribeKey);
  if (!settings.unsubscribeSecretArn)
    throw new Error('No unsubscribe key: set UNSUBSCRIBE_KEY or UNSUBSCRIBE_SECRET_ARN');
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: settings.unsubscribeSecretArn }));
  if (!SecretString || SecretString.length < 32)
    throw new Error('The unsubscribe key secret is shorter than 32 characters');
  return new TextEncoder().encode(SecretString);
}
