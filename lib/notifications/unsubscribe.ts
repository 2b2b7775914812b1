import { ForbiddenError } from '../messaging/errors';
import type { Domain } from '../messaging/sql';
import { unsubscribeUser } from '../messaging/users';
import { signUnsubscribeToken, unsubscribeKey, verifyUnsubscribeToken } from './unsubscribe-token';

type KeySettings = { unsubscribeKey?: string; unsubscribeSecretArn?: string };

/**
 * The one-click unsubscribe (RFC 8058): the token alone says whose email to turn off. A token
 * that is not ours answers 403 and changes nothing; a repeat answers the same as the first.
 */
export async function unsubscribe(d: Domain, settings: KeySettings, token: string): Promise<{ unsubscribed: true }> {
  const userId = await verifyUnsubscribeToken(await unsubscribeKey(settings), token);
  if (!userId || !(await unsubscribeUser(d, userId))) throw new ForbiddenError('This unsubscribe link is not valid');
  return { unsubscribed: true };
}

/** The link an email's List-Unsubscribe header and footer carry. */
export async function unsubscribeUrl(
  settings: KeySettings & { publicApiUrl?: string },
  userId: string,
): Promise<string> {
  if (!settings.publicApiUrl) throw new Error('PUBLIC_API_URL is not set: no unsubscribe link can be made');
  const url = new URL(
    'v1/notifications/unsubscribe',
    settings.publicApiUrl.endsWith('/') ? settings.publicApiUrl : `${settings.publicApiUrl}/`,
  );
  url.searchParams.set('token', await signUnsubscribeToken(await unsubscribeKey(settings), userId));
  return url.toString();
}
