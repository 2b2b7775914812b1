import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SESv2Client, SendEmailCommand, type SendEmailCommandInput } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CapturedMail, LocalSes } from '../../lib/local/local-ses';

/**
 * The local SES v2 endpoint against the real SDK over HTTP: what the digests rely on (a Simple
 * mail with text, HTML and the List-Unsubscribe headers captured exactly as sent, newest last), what
 * SES refuses refused with the error names the SDK gives SES's answers, and nothing captured then;
 * the HTML view escapes what the mail carries.
 */
const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIALOCALSESTEST', secretAccessKey: 'local-ses-secret' };

let server: Server;
let endpoint: string;
let ses: LocalSes;
let sdk: SESv2Client;
let clock: Date | undefined;

beforeAll(async () => {
  ses = new LocalSes({
    region,
    credentials: { [credentials.accessKeyId]: credentials.secretAccessKey },
    now: () => clock ?? new Date(),
    maxMessages: 3,
  });
  // As the local stack routes: what LocalSes claims to it, everything else elsewhere (a 404 here).
  server = createServer((req, res) => {
    if (ses.handles(req)) void ses.handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sdk = client();
});
afterAll(() => {
  server?.close();
});
beforeEach(async () => {
  clock = undefined;
  expect((await fetch(`${endpoint}/local/mail`, { method: 'DELETE' })).status).toBe(204);
});

/** maxAttempts 1: an error is the answer, not a retry (the SDK would also correct a skewed clock). */
function client(secretAccessKey = credentials.secretAccessKey, accessKeyId = credentials.accessKeyId) {
  return new SESv2Client({ region, endpoint, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
}

function input(overrides: Partial<SendEmailCommandInput> = {}): SendEmailCommandInput {
  return {
    FromEmailAddress: 'Order messaging <noreply@example.com>',
    Destination: { ToAddresses: ['alice@example.com'] },
    Content: {
      Simple: {
        Subject: { Data: 'You have 2 unread messages', Charset: 'UTF-8' },
        Body: { Text: { Data: 'Hello Alice' }, Html: { Data: '<p>Hello <b>Alice</b></p>' } },
      },
    },
    ...overrides,
  };
}

async function listed(): Promise<CapturedMail[]> {
  const response = await fetch(`${endpoint}/local/mail`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return ((await response.json()) as { items: CapturedMail[] }).items;
}

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('the send succeeded'),
    (error: Error & { $metadata?: { httpStatusCode?: number } }) => ({
      name: error.name,
      message: error.message,
      status: error.$metadata?.httpStatusCode,
    }),
  );

describe('SendEmail', () => {
  it('captures a Simple mail exactly as sent, with its custom headers, newest last', async () => {
    const sent = new Date();
    clock = sent;
    const unsubscribe = '<https://api.example.com/v1/unsubscribe?token=abc.def>, <mailto:unsubscribe@example.com>';
    const first = await sdk.send(
      new SendEmailCommand(
        input({
          Destination: {
            ToAddresses: ['alice@example.com'],
            CcAddresses: ['carol@example.com'],
            BccAddresses: ['b@example.org'],
          },
          ReplyToAddresses: ['support@example.com'],
          ConfigurationSetName: 'messaging-events',
          Content: {
            Simple: {
              Subject: { Data: 'Ünread: 2 messages' },
              Body: { Text: { Data: 'Hello Alice\nline 2' }, Html: { Data: '<p>Hello</p>' } },
              Headers: [
                { Name: 'List-Unsubscribe', Value: unsubscribe },
                { Name: 'List-Unsubscribe-Post', Value: 'List-Unsubscribe=One-Click' },
              ],
            },
          },
        }),
      ),
    );
    expect(first.MessageId).toMatch(/^[0-9a-f]{16}-[0-9a-f-]{36}-000000$/);
    clock = new Date(sent.getTime() + 1000);
    const second = await sdk.send(
      new SendEmailCommand(
        input({ Content: { Simple: { Subject: { Data: 'Text only' }, Body: { Text: { Data: 'plain' } } } } }),
      ),
    );

    const items = await listed();
    expect(items).toEqual([
      {
        id: first.MessageId,
        from: 'Order messaging <noreply@example.com>',
        to: ['alice@example.com'],
        cc: ['carol@example.com'],
        bcc: ['b@example.org'],
        replyTo: ['support@example.com'],
        subject: 'Ünread: 2 messages',
        text: 'Hello Alice\nline 2',
        html: '<p>Hello</p>',
        headers: { 'List-Unsubscribe': unsubscribe, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
        configurationSet: 'messaging-events',
        sentAt: sent.toISOString(),
      },
      expect.objectContaining({ id: second.MessageId, subject: 'Text only', text: 'plain', html: null, headers: {} }),
    ]);
    expect(second.MessageId).not.toBe(first.MessageId);
    expect(ses.mail()).toEqual(items);
  });

  it('keeps the newest maxMessages', async () => {
    for (const n of [1, 2, 3, 4]) {
      await sdk.send(
        new SendEmailCommand(
          input({ Content: { Simple: { Subject: { Data: `#${n}` }, Body: { Text: { Data: 'x' } } } } }),
        ),
      );
    }
    expect((await listed()).map((mail) => mail.subject)).toEqual(['#2', '#3', '#4']);
    ses.clear();
    expect(await listed()).toEqual([]);
  });

  it('refuses a wrong secret, an unknown key and another region with 403, capturing nothing', async () => {
    expect(await errorOf(client('not-the-secret').send(new SendEmailCommand(input())))).toMatchObject({
      name: 'SignatureDoesNotMatch',
      status: 403,
    });
    expect(
      await errorOf(client(credentials.secretAccessKey, 'AKIAUNKNOWN').send(new SendEmailCommand(input()))),
    ).toMatchObject({
      name: 'UnrecognizedClientException',
      status: 403,
    });
    const elsewhere = new SESv2Client({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1 });
    expect(await errorOf(elsewhere.send(new SendEmailCommand(input())))).toMatchObject({
      name: 'SignatureDoesNotMatch',
      message: expect.stringContaining("not 'us-east-1'"),
    });
    // Signed at a time more than 15 minutes from the endpoint's.
    clock = new Date(Date.now() + 20 * 60 * 1000);
    expect(await errorOf(sdk.send(new SendEmailCommand(input())))).toMatchObject({
      name: 'InvalidSignatureException',
      message: expect.stringContaining('Signature expired'),
    });
    expect(await listed()).toEqual([]);
  });

  it('refuses a request whose body was changed after signing', async () => {
    const tampering = client();
    tampering.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body: string };
        // Same length: the content-length still holds, only the signature does not.
        request.body = request.body.replace('alice@example.com', 'alice@example.org');
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'tamper' },
    );
    expect(await errorOf(tampering.send(new SendEmailCommand(input())))).toMatchObject({
      name: 'SignatureDoesNotMatch',
    });
    const unsigned = await fetch(`${endpoint}/v2/email/outbound-emails`, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(await listed()).toEqual([]);
  });

  it.each<[string, Partial<SendEmailCommandInput>, string, RegExp]>([
    ['no From', { FromEmailAddress: undefined }, 'BadRequestException', /FromEmailAddress/],
    ['a From that is no address', { FromEmailAddress: 'noreply' }, 'BadRequestException', /@domain/],
    ['no recipients', { Destination: { ToAddresses: [] } }, 'BadRequestException', /destination/i],
    ['no Destination', { Destination: undefined }, 'BadRequestException', /destination/i],
    [
      '51 recipients',
      {
        Destination: {
          ToAddresses: Array.from({ length: 40 }, (_, i) => `to${i}@example.com`),
          BccAddresses: Array.from({ length: 11 }, (_, i) => `bcc${i}@example.com`),
        },
      },
      'BadRequestException',
      /Recipient count exceeds 50/,
    ],
    ['an invalid recipient', { Destination: { ToAddresses: ['alice@'] } }, 'BadRequestException', /Illegal address/],
    [
      'Raw content',
      { Content: { Raw: { Data: new TextEncoder().encode('Subject: x\r\n\r\nbody') } } },
      'BadRequestException',
      /not emulated/,
    ],
    [
      'Template content',
      { Content: { Template: { TemplateName: 'digest', TemplateData: '{}' } } },
      'BadRequestException',
      /not emulated/,
    ],
    ['no body', { Content: { Simple: { Subject: { Data: 's' }, Body: {} } } }, 'BadRequestException', /Text or Html/],
  ])('refuses %s with %s, capturing nothing', async (_, overrides, name, message) => {
    const error = await errorOf(sdk.send(new SendEmailCommand(input(overrides))));
    expect(error).toMatchObject({ name, status: 400 });
    expect(error.message).toMatch(message);
    expect(await listed()).toEqual([]);
  });

  it.each<[string, { Name: string; Value: string }[], RegExp]>([
    ['a header SES sets (To)', [{ Name: 'To', Value: 'mallory@example.com' }], /set by SES/],
    ['a header SES sets in another case (content-TYPE)', [{ Name: 'content-TYPE', Value: 'text/plain' }], /set by SES/],
    ['a name with a colon', [{ Name: 'X-A:B', Value: 'v' }], /header name/],
    ['a name of 127 characters', [{ Name: `X-${'a'.repeat(125)}`, Value: 'v' }], /header name/],
    ['a value with a line break', [{ Name: 'X-Injected', Value: 'v\r\nBcc: mallory@example.com' }], /value/],
    ['a value of 871 characters', [{ Name: 'X-Long', Value: 'v'.repeat(871) }], /value/],
    ['a non-ASCII value', [{ Name: 'X-Name', Value: 'Zoë' }], /value/],
    ['an empty value', [{ Name: 'X-Empty', Value: '' }], /value/],
    [
      'a once-only header twice',
      [
        { Name: 'List-Unsubscribe', Value: '<mailto:a@example.com>' },
        { Name: 'list-unsubscribe', Value: '<mailto:b@example.com>' },
      ],
      /Duplicate header/,
    ],
    ['16 headers', Array.from({ length: 16 }, (_, i) => ({ Name: `X-H${i}`, Value: 'v' })), /at most 15/],
  ])('refuses %s', async (_, headers, message) => {
    const simple = { Subject: { Data: 's' }, Body: { Text: { Data: 't' } }, Headers: headers };
    const error = await errorOf(sdk.send(new SendEmailCommand(input({ Content: { Simple: simple } }))));
    expect(error).toMatchObject({ name: 'BadRequestException', status: 400 });
    expect(error.message).toMatch(message);
    expect(await listed()).toEqual([]);
  });

  it('takes headers at their limits: 15 of them, a 126-character name, an 870-character value', async () => {
    const headers = [
      { Name: `X-${'a'.repeat(124)}`, Value: 'v'.repeat(870) },
      ...Array.from({ length: 14 }, (_, i) => ({ Name: `X-H${i}`, Value: `value ${i}` })),
    ];
    const simple = { Subject: { Data: 's' }, Body: { Text: { Data: 't' } }, Headers: headers };
    await sdk.send(new SendEmailCommand(input({ Content: { Simple: simple } })));
    const [mail] = await listed();
    expect(mail!.headers).toEqual(Object.fromEntries(headers.map((h) => [h.Name, h.Value])));
  });

  // Just over: refused once read; well over: refused by its declared length, before it is read.
  it.each([40 * 1024 * 1024 + 1, 42 * 1024 * 1024])('refuses a text of %i bytes with MessageRejected', async (size) => {
    const simple = { Subject: { Data: 's' }, Body: { Text: { Data: 'a'.repeat(size) } } };
    expect(await errorOf(sdk.send(new SendEmailCommand(input({ Content: { Simple: simple } }))))).toMatchObject({
      name: 'MessageRejected',
      status: 400,
    });
    expect(await listed()).toEqual([]);
  });

  it('answers another SES operation NotFoundException, and claims nothing outside its paths', async () => {
    const signed = client();
    signed.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { path: string }).path = '/v2/email/account';
        return next(args);
      },
      { step: 'build', name: 'elsewhere' },
    );
    expect(await errorOf(signed.send(new SendEmailCommand(input())))).toMatchObject({
      name: 'NotFoundException',
      status: 404,
    });
    expect((await fetch(`${endpoint}/v1/messages/unread`)).status).toBe(404);
    expect((await fetch(`${endpoint}/local/mailbox`)).status).toBe(404);
    expect(await listed()).toEqual([]);
  });
});

describe('the mail view', () => {
  it('escapes the subject and bodies and shows the HTML body in a sandboxed frame', async () => {
    const hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">';
    await sdk.send(
      new SendEmailCommand(
        input({
          Content: {
            Simple: {
              Subject: { Data: `Hi <script>steal()</script> & "you"` },
              Body: { Text: { Data: `text ${hostile}` }, Html: { Data: `<p>html</p>${hostile}` } },
              Headers: [{ Name: 'X-Note', Value: '<script>header()</script>' }],
            },
          },
        }),
      ),
    );
    for (const url of [`${endpoint}/local/mail/view`, `${endpoint}/local/mail`]) {
      const response = await fetch(url, { headers: { accept: 'text/html,application/xhtml+xml' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy')).toContain("script-src 'none'");
      const page = await response.text();
      // Nothing the mail carries reaches the page as markup: no tag, no attribute.
      expect(page).not.toMatch(/<script|<img|onerror="/i);
      expect(page).toContain('Hi &#60;script&#62;steal()&#60;/script&#62; &#38; &#34;you&#34;');
      expect(page).toContain('&#60;script&#62;header()&#60;/script&#62;');
      const frames = [...page.matchAll(/<iframe([^>]*)>/g)].map((m) => m[1]!);
      expect(frames).toHaveLength(1);
      expect(frames[0]).toMatch(/^ sandbox srcdoc="[^"]*"/);
      // The frame's document is the mail's HTML once the attribute is unescaped.
      const srcdoc = /srcdoc="([^"]*)"/
        .exec(frames[0]!)![1]!
        .replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c)));
      expect(srcdoc).toBe(`<p>html</p>${hostile}`);
    }
  });

  it('answers JSON to a client that does not ask for HTML, and refuses other methods', async () => {
    const json = await fetch(`${endpoint}/local/mail`, { headers: { accept: '*/*' } });
    expect(await json.json()).toEqual({ items: [] });
    const post = await fetch(`${endpoint}/local/mail`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toContain('DELETE');
    const empty = await (await fetch(`${endpoint}/local/mail/view`)).text();
    expect(empty).toContain('No mail yet');
  });
});
