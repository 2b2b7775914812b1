import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DigestContent } from '../../lib/messaging/digests';
import { digestEmail, escapeHtml } from '../../lib/notifications/digest-email';
import { unsubscribePage } from '../../lib/notifications/unsubscribe';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '../../lib/notifications/unsubscribe-token';

const content = (overrides: Partial<DigestContent> = {}): DigestContent => ({
  conversation: { id: randomUUID(), type: 'order', subject: 'Sink <b>repair</b>' },
  recipientName: 'Ann "A" <Admin>',
  unreadCount: 3,
  items: [
    {
      seq: 2,
      kind: 'user',
      senderId: randomUUID(),
      senderName: 'Bob <script>x</script>',
      content: '<img src=x onerror=alert(1)>\nsecond line',
      attachments: ['quote "final".pdf'],
      createdAt: '2026-12-03T00:00:00.000Z',
    },
    {
      seq: 3,
      kind: 'system',
      senderId: null,
      senderName: null,
      content: 'Order status: shipped',
      attachments: [],
      createdAt: '2026-12-03T00:01:00.000Z',
    },
  ],
  ...overrides,
});

describe('the digest email', () => {
  const unsubscribeUrl = 'https://api.example.com/v1/notifications/unsubscribe?token=a.b&c=<d>';

  it('escapes everything users wrote in the HTML, and keeps it verbatim in the text', () => {
    const mail = digestEmail({ to: 'ann@example.com', from: 'n@example.com', content: content(), unsubscribeUrl });
    for (const raw of ['<img', '<script>', '<b>', '<Admin>', 'quote "final"']) expect(mail.html).not.toContain(raw);
    expect(mail.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mail.html).toContain('Bob &lt;script&gt;x&lt;/script&gt;');
    expect(mail.html).toContain(
      'href="https://api.example.com/v1/notifications/unsubscribe?token=a.b&amp;c=&lt;d&gt;"',
    );
    expect(mail.text).toContain('<img src=x onerror=alert(1)>\n  second line');
    expect(mail.text).toContain('[file: quote "final".pdf]');
    expect(mail.text).toContain('(1 earlier not shown)');
    expect(mail.text).toContain('Update (2026-12-03T00:01:00.000Z):\n  Order status: shipped');
    expect(mail.subject).toBe('3 unread messages in “Sink <b>repair</b>”');
  });

  it('carries the RFC 8058 one-click headers and keeps line breaks out of the subject', () => {
    const mail = digestEmail({
      to: 'ann@example.com',
      from: 'n@example.com',
      content: content({ conversation: { id: randomUUID(), type: 'support', subject: 'a\r\nBcc: evil@example.com' } }),
      unsubscribeUrl,
    });
    expect(mail.headers).toEqual({
      'List-Unsubscribe': `<${unsubscribeUrl}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
    expect(mail.subject).not.toMatch(/[\r\n]/);
    const untitled = digestEmail({
      to: 'a@b.c',
      from: 'n@b.c',
      content: content({ conversation: { id: randomUUID(), type: 'support', subject: null }, unreadCount: 1 }),
      unsubscribeUrl,
    });
    expect(untitled.subject).toBe('1 unread message in a support conversation');
  });

  it('escapes the five HTML metacharacters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });
});

describe('the unsubscribe token', () => {
  const key = new TextEncoder().encode('k'.repeat(32));
  const other = new TextEncoder().encode('o'.repeat(32));

  it('names its user, and nothing else passes: another key, an altered token, another purpose', async () => {
    const user = randomUUID();
    const token = await signUnsubscribeToken(key, user);
    expect(await verifyUnsubscribeToken(key, token)).toBe(user);
    expect(await verifyUnsubscribeToken(other, token)).toBeNull();
    const [payload, mac] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = `${Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString('base64url')}.${mac}`;
    expect(await verifyUnsubscribeToken(key, forged)).toBeNull();
    const flipped = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
    expect(await verifyUnsubscribeToken(key, flipped)).toBeNull();
    expect(await verifyUnsubscribeToken(key, `${payload}.`)).toBeNull();
    expect(await verifyUnsubscribeToken(key, `${token}.extra`)).toBeNull();
    expect(await verifyUnsubscribeToken(key, 'not a token')).toBeNull();
    // A MAC of the right key over another purpose's payload is not one.
    const elsewhere = Buffer.from(JSON.stringify({ sub: user, purpose: 'something-else' })).toString('base64url');
    const { createHmac } = await import('node:crypto');
    const otherMac = createHmac('sha256', key)
      .update(`messaging.email-unsubscribe.v1.${elsewhere}`)
      .digest('base64url');
    expect(await verifyUnsubscribeToken(key, `${elsewhere}.${otherMac}`)).toBeNull();
  });
});

describe('the unsubscribe page', () => {
  it('posts the token back to the same route, with whatever the link held escaped', () => {
    const page = unsubscribePage('a.b"><script>alert(1)</script>&x');
    expect(page).not.toContain('<script>');
    expect(page).toContain('<form method="post" action="?token=a.b%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%26x">');
    expect(page).toContain('name="List-Unsubscribe" value="One-Click"');
  });
});
