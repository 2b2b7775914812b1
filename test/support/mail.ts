import type { CapturedMail } from '../../lib/local/local-ses';

/**
 * The local stack's captured mail, read as a developer or a test would: through GET /local/mail
 * (JSON `{ items }`, newest last), never through the in-memory object alone.
 */
export type Mail = CapturedMail;

/** Every mail the stack at `baseUrl` accepted, oldest first. */
export async function listMail(baseUrl: string): Promise<Mail[]> {
  const response = await fetch(`${baseUrl}/local/mail`, { headers: { accept: 'application/json' } });
  if (response.status !== 200) throw new Error(`GET /local/mail answered ${response.status}`);
  const body = (await response.json()) as { items: Mail[] };
  return body.items;
}

/** The mails addressed to `address` (compared case-insensitively), oldest first. */
export async function mailTo(baseUrl: string, address: string): Promise<Mail[]> {
  const wanted = address.toLowerCase();
  return (await listMail(baseUrl)).filter((mail) => mail.to.some((to) => to.toLowerCase() === wanted));
}

/** Polls `probe` until it returns something other than undefined/false, or throws after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    last = value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.what ?? 'a condition'} (last: ${String(last)})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

/** Waits until at least `count` mails to `address` arrived; returns them all. */
export function waitForMail(baseUrl: string, address: string, count = 1, timeoutMs = 10_000): Promise<Mail[]> {
  return eventually(
    async () => {
      const mails = await mailTo(baseUrl, address);
      return mails.length >= count ? mails : undefined;
    },
    { timeoutMs, what: `${count} mail(s) to ${address}` },
  );
}

/** A header of a captured mail by name, case-insensitively. */
export function headerOf(mail: Mail, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return Object.entries(mail.headers).find(([key]) => key.toLowerCase() === wanted)?.[1];
}

/** The URL in a mail's `List-Unsubscribe: <url>` header. */
export function unsubscribeLinkOf(mail: Mail): string {
  const header = headerOf(mail, 'List-Unsubscribe');
  const match = header ? /^<([^<>]+)>$/.exec(header) : null;
  if (!match) throw new Error(`no List-Unsubscribe <url> header: ${JSON.stringify(mail.headers)}`);
  return match[1]!;
}

/** What a mail app does for RFC 8058's one-click unsubscribe: a form POST, without any credentials. */
export async function oneClickUnsubscribe(url: string): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'List-Unsubscribe=One-Click',
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text };
}
