import { jwtVerify, SignJWT } from 'jose';

/**
 * The token of a one-click unsubscribe link (RFC 8058): a JWT signed with HMAC-SHA256 (jose)
 * that names the user and the purpose, so it turns off nobody else's email and is no use as
 * anything else. It does not expire: a link in an old email must still work, and all it can do
 * is turn email off. Rotating the key voids every link sent before.
 */
const PURPOSE = 'email-unsubscribe';
const AUDIENCE = 'messaging-unsubscribe';

export async function signUnsubscribeToken(key: Uint8Array, userId: string): Promise<string> {
  return new SignJWT({ purpose: PURPOSE })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .sign(key);
}

/** The user the token names, or null when it is not one of ours (forged, altered, another purpose). */
export async function verifyUnsubscribeToken(key: Uint8Array, token: string): Promise<string | null> {
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], audience: AUDIENCE });
    if (payload.purpose !== PURPOSE || typeof payload.sub !== 'string') return null;
    return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(payload.sub) ? payload.sub : null;
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
