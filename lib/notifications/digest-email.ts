import type { DigestContent, DigestItem } from '../messaging/digests';
import type { Mail } from './mailer';

/**
 * A digest as an email: a plain-text body and an HTML body that escapes everything users wrote
 * (names, subjects, messages, file names), and the RFC 8058 headers that let mail apps offer a
 * one-click unsubscribe.
 */
export function digestEmail(options: {
  to: string;
  from: string;
  content: DigestContent;
  unsubscribeUrl: string;
}): Mail {
  const { content, unsubscribeUrl } = options;
  const title = conversationTitle(content);
  const count = content.unreadCount;
  const subject = oneLine(`${count} unread ${count === 1 ? 'message' : 'messages'} in ${title}`);
  const hidden = Math.max(0, count - content.items.length);
  const greeting = content.recipientName ? `Hello ${oneLine(content.recipientName)},` : 'Hello,';

  const textItems = content.items.map((item) => `${senderOf(item)} (${item.createdAt}):\n${indent(bodyOf(item))}`);
  const text = [
    greeting,
    '',
    `You have ${count} unread ${count === 1 ? 'message' : 'messages'} in ${title}:`,
    '',
    ...(hidden ? [`(${hidden} earlier not shown)`, ''] : []),
    textItems.join('\n\n'),
    '',
    '--',
    'You get this email because you have unread messages and were not online.',
    `To stop these emails: ${unsubscribeUrl}`,
  ].join('\n');

  const htmlItems = content.items
    .map(
      (item) => `<li style="margin:0 0 12px 0">
  <div style="color:#555;font-size:12px">${escapeHtml(senderOf(item))} · ${escapeHtml(item.createdAt)}</div>
  <div style="white-space:pre-wrap">${escapeHtml(bodyOf(item))}</div>
</li>`,
    )
    .join('\n');
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family:sans-serif;line-height:1.4">
<p>${escapeHtml(greeting)}</p>
<p>You have ${count} unread ${count === 1 ? 'message' : 'messages'} in ${escapeHtml(title)}:</p>
${hidden ? `<p style="color:#555">(${hidden} earlier not shown)</p>\n` : ''}<ul style="list-style:none;padding:0">
${htmlItems}
</ul>
<p style="color:#777;font-size:12px">You get this email because you have unread messages and were not online.
<a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a> from these emails.</p>
</body></html>`;

  return {
    to: options.to,
    from: options.from,
    subject,
    text,
    html,
    headers: {
      'List-Unsubscribe': `<${unsubscribeUrl}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}

function conversationTitle(content: DigestContent): string {
  const subject = content.conversation.subject?.trim();
  if (subject) return `“${subject}”`;
  return content.conversation.type === 'order'
    ? 'your order conversation'
    : content.conversation.type === 'support'
      ? 'a support conversation'
      : 'a conversation';
}

function senderOf(item: DigestItem): string {
  if (item.kind === 'system') return 'Update';
  return oneLine(item.senderName?.trim() || 'Someone');
}

function bodyOf(item: DigestItem): string {
  const files = item.attachments.length
    ? `\n[${item.attachments.length === 1 ? 'file' : 'files'}: ${item.attachments.join(', ')}]`
    : '';
  return `${item.content}${files}`.trim();
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');

/** A subject or a name on one line: no line breaks or other control characters reach a header. */
const oneLine = (text: string) => text.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim();

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}
