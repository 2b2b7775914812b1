import { ForbiddenError } from '../messaging/errors';
import type { Domain } from '../messaging/sql';
import { unsubscribeUser } from '../messaging/users';
import { escapeHtml } from './digest-email';
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

/**
 * What the footer link opens: a page whose button sends the same POST a mail app's one-click
 * does. Opening it changes nothing (link scanners open links); the token is only echoed back,
 * escaped, into the form's address.
 */
export function unsubscribePage(token: string): string {
  const action = `?token=${encodeURIComponent(token)}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Unsubscribe from message digests</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;line-height:1.5">
<h1 style="font-size:1.3rem">Stop emails about unread messages?</h1>
<p>You will no longer get emails listing messages you have not read. You can turn them on again in the app.</p>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit" style="font-size:1rem;padding:.5rem 1rem">Unsubscribe</button>
</form>
</body></html>
`;
}
