import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestStack, type TestUser } from '../support/http-stack';
import { counted } from '../support/invariants';
import { backend } from '../support/test-database';

/**
 * Attachments end to end: presigned uploads with real HTTP against the local S3 endpoint (which
 * verifies the signature as S3 does), the check running on the local ObjectCreated as in AWS,
 * sends, presigned downloads, deletion and the sweep.
 */
const UPLOAD_EXPIRY_SECONDS = 3;
let stack: TestStack;
let s3: S3Client;

beforeAll(async () => {
  stack = await TestStack.start(undefined, {
    ATTACHMENT_UPLOAD_EXPIRY_SECONDS: String(UPLOAD_EXPIRY_SECONDS),
    ATTACHMENT_MAX_BYTES: String(64 * 1024),
  });
  s3 = new S3Client({ endpoint: stack.url, forcePathStyle: true, region: process.env.AWS_REGION });
});
afterAll(async () => {
  s3?.destroy();
  await stack?.close();
});

const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2000, 7)]);
const html = Buffer.from('<!DOCTYPE html><script>alert(document.cookie)</script>');
const pdf = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n');

interface Upload {
  id: string;
  upload: { method: 'PUT'; url: string; headers: Record<string, string> };
  expiresAt: string;
}

const conversationOf = (creator: TestUser, ...others: TestUser[]) => stack.conversation(creator, others);

async function startUpload(
  user: TestUser,
  conversationId: string,
  file: { filename: string; contentType: string; size: number },
) {
  return stack.request<Upload & { error: { code: string } }>(
    'POST',
    `/v1/messages/conversations/${conversationId}/attachments`,
    {
      token: user.token,
      body: file,
    },
  );
}

/** A PUT with exactly the headers given (node:http: fetch would set Content-Length itself). */
function put(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'PUT', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function stateOf(attachmentId: string): Promise<string | undefined> {
  const { rows } = await sql<{ state: string }>`SELECT state FROM attachments WHERE id = ${attachmentId}::uuid`.execute(
    stack.database.db,
  );
  return rows[0]?.state;
}

/** Waits for the check that the upload's ObjectCreated started. */
async function checked(attachmentId: string): Promise<string | undefined> {
  await stack.server.attachments.s3.settled();
  return stateOf(attachmentId);
}

/** Starts an upload, sends the bytes and waits for the check. */
async function uploaded(
  user: TestUser,
  conversationId: string,
  body: Buffer,
  contentType = 'image/png',
  filename = 'sink.png',
) {
  const started = await startUpload(user, conversationId, { filename, contentType, size: body.length });
  expect(started.status).toBe(201);
  const sent = await put(started.body.upload.url, started.body.upload.headers, body);
  expect(sent.status).toBe(200);
  return { id: started.body.id, state: await checked(started.body.id) };
}

async function objectKeys(conversationId: string): Promise<string[]> {
  const listed = await s3.send(
    new ListObjectsV2Command({ Bucket: stack.server.attachments.name, Prefix: `attachments/${conversationId}/` }),
  );
  return (listed.Contents ?? []).map((o) => o.Key!);
}

function send(user: TestUser, conversationId: string, body: Record<string, unknown>) {
  return stack.request('POST', `/v1/messages/conversations/${conversationId}/messages`, { token: user.token, body });
}

describe(`attachments through the local stack on ${backend}`, () => {
  it('uploads with the presigned PUT, sends, and lets the participants download the same bytes', async () => {
    const [alice, bob, outsider, admin] = await Promise.all([
      stack.user(),
      stack.user(),
      stack.user(),
      stack.user(['admin']),
    ]);
    const conversationId = await conversationOf(alice, bob);

    const { result: started, roundTrips } = await counted(stack.database, () =>
      startUpload(alice, conversationId, { filename: 'Spüle kaputt.png', contentType: 'image/png', size: png.length }),
    );
    expect(started.status).toBe(201);
    expect(roundTrips).toBe(1);
    expect(started.body.upload).toEqual({
      method: 'PUT',
      url: expect.any(String),
      headers: { 'Content-Type': 'image/png', 'Content-Length': String(png.length), 'If-None-Match': '*' },
    });
    const lifetime = Date.parse(started.body.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(0);
    expect(lifetime).toBeLessThanOrEqual(UPLOAD_EXPIRY_SECONDS * 1000);
    // The URL names a key the server chose, under the conversation.
    expect(new URL(started.body.upload.url).pathname).toBe(
      `/${stack.server.attachments.name}/attachments/${conversationId}/${started.body.id}`,
    );

    // Sent before the bytes arrive: not ready, and nothing stored.
    const early = await send(alice, conversationId, { attachmentIds: [started.body.id] });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('attachment_not_ready');

    // With fetch, as a browser or app would: Content-Length comes from the body.
    const uploadedNow = await fetch(started.body.upload.url, {
      method: 'PUT',
      headers: { 'Content-Type': 'image/png', 'If-None-Match': '*' },
      body: png,
    });
    expect(uploadedNow.status).toBe(200);
    expect(await checked(started.body.id)).toBe('ready');
    // The URL uploads once: checked bytes can never be replaced by others of the same size and type.
    const again = await put(started.body.upload.url, started.body.upload.headers, Buffer.from(png).fill(0, 8));
    expect(again.status).toBe(412);
    expect(again.text).toContain('<Code>PreconditionFailed</Code>');

    // Before it is sent, only the uploader can download it (not even an admin).
    const link = (user: TestUser) =>
      stack.request('GET', `/v1/messages/attachments/${started.body.id}`, { token: user.token });
    expect((await link(alice)).status).toBe(200);
    expect((await link(bob)).status).toBe(404);
    expect((await link(admin)).status).toBe(404);

    const { result: sent, roundTrips: sendTrips } = await counted(stack.database, () =>
      send(alice, conversationId, { content: 'The sink, see photo', attachmentIds: [started.body.id] }),
    );
    expect(sent.status).toBe(201);
    expect(sendTrips).toBe(1);
    expect(sent.body.attachments).toEqual([
      { id: started.body.id, filename: 'Spüle kaputt.png', contentType: 'image/png', size: png.length },
    ]);

    // Every endpoint that returns the message carries them: the page, the inbox's last message.
    const page = await stack.request('GET', `/v1/messages/conversations/${conversationId}/messages`, {
      token: bob.token,
    });
    expect(page.body.items.at(-1).attachments).toEqual(sent.body.attachments);
    const inbox = await stack.request('GET', '/v1/messages/conversations', { token: bob.token });
    expect(inbox.body.items.find((c: { id: string }) => c.id === conversationId).lastMessage.attachments).toEqual(
      sent.body.attachments,
    );

    for (const reader of [bob, admin]) {
      const { result: link, roundTrips: linkTrips } = await counted(stack.database, () =>
        stack.request('GET', `/v1/messages/attachments/${started.body.id}`, { token: reader.token }),
      );
      expect(link.status).toBe(200);
      expect(linkTrips).toBe(1);
      const file = await fetch(link.body.url);
      expect(file.status).toBe(200);
      expect(Buffer.from(await file.arrayBuffer()).equals(png)).toBe(true);
      expect(file.headers.get('content-type')).toBe('image/png');
      // Images open inline; the exact name travels in UTF-8.
      expect(file.headers.get('content-disposition')).toBe(
        `inline; filename="Sp_le kaputt.png"; filename*=UTF-8''Sp%C3%BCle%20kaputt.png`,
      );
    }
    const refused = await stack.request('GET', `/v1/messages/attachments/${started.body.id}`, {
      token: outsider.token,
    });
    expect(refused.status).toBe(404);
    expect(refused.body.error.code).toBe('not_found');
    expect(
      (await stack.request('GET', `/v1/messages/attachments/${randomUUID()}`, { token: alice.token })).status,
    ).toBe(404);
  });

  it('offers documents as a download, and sends a message of attachments alone', async () => {
    const [alice, bob] = await Promise.all([stack.user(), stack.user()]);
    const conversationId = await conversationOf(alice, bob);
    const quote = await uploaded(alice, conversationId, pdf, 'application/pdf', 'quote.pdf');
    expect(quote.state).toBe('ready');
    const photo = await uploaded(alice, conversationId, png);
    const sent = await send(alice, conversationId, { attachmentIds: [quote.id, photo.id] });
    expect(sent.status).toBe(201);
    expect(sent.body.content).toBeNull();
    expect(sent.body.attachments.map((a: { id: string }) => a.id)).toEqual([quote.id, photo.id]);
    const link = await stack.request('GET', `/v1/messages/attachments/${quote.id}`, { token: bob.token });
    const file = await fetch(link.body.url);
    expect(file.headers.get('content-disposition')).toBe(
      `attachment; filename="quote.pdf"; filename*=UTF-8''quote.pdf`,
    );
    expect(file.headers.get('content-type')).toBe('application/pdf');
    // A caption can be added later: the absent text is kept as the first version.
    const edited = await stack.request('PATCH', `/v1/messages/${sent.body.id}`, {
      token: alice.token,
      body: { content: 'Quote and photo' },
    });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ content: 'Quote and photo', attachments: sent.body.attachments });
  });

  it('refuses a tampered, expired, resized or retyped upload, and stores nothing', async () => {
    const alice = await stack.user();
    const conversationId = await conversationOf(alice);
    const start = () =>
      startUpload(alice, conversationId, { filename: 'a.png', contentType: 'image/png', size: png.length });

    const tampered = (await start()).body;
    const url = new URL(tampered.upload.url);
    const signature = url.searchParams.get('X-Amz-Signature')!;
    url.searchParams.set('X-Amz-Signature', `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`);
    const forged = await put(url.toString(), tampered.upload.headers, png);
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('<Code>SignatureDoesNotMatch</Code>');

    const other = (await start()).body;
    const longer = Buffer.concat([png, Buffer.from('x')]);
    const more = await put(
      other.upload.url,
      { ...other.upload.headers, 'Content-Length': String(longer.length) },
      longer,
    );
    expect(more.status).toBe(403);
    const shorter = png.subarray(1);
    const fewer = await put(
      other.upload.url,
      { ...other.upload.headers, 'Content-Length': String(shorter.length) },
      shorter,
    );
    expect(fewer.status).toBe(403);
    const retyped = await put(other.upload.url, { ...other.upload.headers, 'Content-Type': 'text/html' }, png);
    expect(retyped.status).toBe(403);

    const late = (await start()).body;
    await new Promise((resolve) => setTimeout(resolve, (UPLOAD_EXPIRY_SECONDS + 1.5) * 1000));
    const expired = await put(late.upload.url, late.upload.headers, png);
    expect(expired.status).toBe(403);
    expect(expired.text).toContain('Request has expired');

    await stack.server.attachments.s3.settled();
    expect(await objectKeys(conversationId)).toEqual([]);
    for (const id of [tampered.id, other.id, late.id]) expect(await stateOf(id)).toBe('pending');
  }, 20_000);

  it('rejects HTML disguised as a PNG, deletes it, and refuses to send or serve it', async () => {
    const [alice, bob] = await Promise.all([stack.user(), stack.user()]);
    const conversationId = await conversationOf(alice, bob);
    const disguised = await uploaded(alice, conversationId, html, 'image/png', 'cute-cat.png');
    expect(disguised.state).toBe('rejected');
    expect(await objectKeys(conversationId)).toEqual([]);
    const sent = await send(alice, conversationId, { content: 'look', attachmentIds: [disguised.id] });
    expect(sent.status).toBe(422);
    expect(sent.body.error).toMatchObject({ code: 'attachment_rejected', details: { attachmentId: disguised.id } });
    expect(
      (await stack.request('GET', `/v1/messages/attachments/${disguised.id}`, { token: alice.token })).status,
    ).toBe(404);
    // Nothing was stored by the refused send.
    const page = await stack.request('GET', `/v1/messages/conversations/${conversationId}/messages`, {
      token: bob.token,
    });
    expect(page.body.items).toEqual([]);
  });

  it('answers 4xx to what the upload may not be, and to those who are not in the conversation', async () => {
    const [alice, outsider] = await Promise.all([stack.user(), stack.user()]);
    const conversationId = await conversationOf(alice);
    const html415 = await startUpload(alice, conversationId, {
      filename: 'x.html',
      contentType: 'text/html',
      size: 10,
    });
    expect(html415.status).toBe(415);
    expect(html415.body.error.code).toBe('attachment_type_not_allowed');
    const big = await startUpload(alice, conversationId, {
      filename: 'x.png',
      contentType: 'image/png',
      size: 64 * 1024 + 1,
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('attachment_too_large');
    for (const body of [
      { filename: '', contentType: 'image/png', size: 1 },
      { filename: 'a/b.png', contentType: 'image/png', size: 1 },
      { filename: 'photo\u202Egnp.exe', contentType: 'image/png', size: 1 },
      { filename: 'a\u2028b.png', contentType: 'image/png', size: 1 },
      { filename: 'a\tb.png', contentType: 'image/png', size: 1 },
      { filename: 'a.png', contentType: 'image/png; charset=x', size: 1 },
      { filename: 'a.png', contentType: 'image/png', size: 0 },
      { filename: 'a.png', contentType: 'image/png', size: 1.5 },
      { filename: 'a.png', contentType: 'image/png' },
    ]) {
      const answer = await stack.request('POST', `/v1/messages/conversations/${conversationId}/attachments`, {
        token: alice.token,
        body,
      });
      expect(answer.status, JSON.stringify(body)).toBe(400);
    }
    const stranger = await startUpload(outsider, conversationId, {
      filename: 'a.png',
      contentType: 'image/png',
      size: 10,
    });
    expect(stranger.status).toBe(404);
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM attachments WHERE conversation_id = ${conversationId}::uuid`.execute(
      stack.database.db,
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('refuses attachments of another conversation or sender, already sent, or repeated', async () => {
    const [alice, bob] = await Promise.all([stack.user(), stack.user()]);
    const first = await conversationOf(alice, bob);
    const second = await conversationOf(alice, bob);
    const photo = await uploaded(alice, first, png);
    const elsewhere = await send(alice, second, { content: 'x', attachmentIds: [photo.id] });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error.details).toMatchObject({ field: 'attachmentIds', attachmentId: photo.id });
    const notTheirs = await send(bob, first, { content: 'x', attachmentIds: [photo.id] });
    expect(notTheirs.status).toBe(400);
    const unknown = await send(alice, first, { content: 'x', attachmentIds: [randomUUID()] });
    expect(unknown.status).toBe(400);
    const twice = await send(alice, first, { content: 'x', attachmentIds: [photo.id, photo.id] });
    expect(twice.status).toBe(400);
    const eleven = await send(alice, first, { content: 'x', attachmentIds: Array.from({ length: 11 }, randomUUID) });
    expect(eleven.status).toBe(400);
    expect((await send(alice, first, {})).status).toBe(400);
    expect((await send(alice, first, { attachmentIds: [] })).status).toBe(400);

    expect((await send(alice, first, { attachmentIds: [photo.id] })).status).toBe(201);
    const reused = await send(alice, first, { content: 'again', attachmentIds: [photo.id] });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('attachment_in_use');
  });

  it('takes ids in any case, and keeps one object key for each', async () => {
    const [alice, bob] = await Promise.all([stack.user(), stack.user()]);
    const conversationId = await conversationOf(alice, bob);
    const note = Buffer.from('Invoice total: 120 EUR\n');
    const started = await startUpload(alice, conversationId.toUpperCase(), {
      filename: 'invoice.js',
      contentType: 'text/plain',
      size: note.length,
    });
    expect(started.status).toBe(201);
    expect(new URL(started.body.upload.url).pathname).toBe(
      `/${stack.server.attachments.name}/attachments/${conversationId}/${started.body.id}`,
    );
    expect((await put(started.body.upload.url, started.body.upload.headers, note)).status).toBe(200);
    expect(await checked(started.body.id)).toBe('ready');
    const upper = started.body.id.toUpperCase();
    expect((await send(alice, conversationId.toUpperCase(), { attachmentIds: [upper] })).status).toBe(201);
    const link = await stack.request('GET', `/v1/messages/attachments/${upper}`, { token: bob.token });
    const file = await fetch(link.body.url);
    expect(Buffer.from(await file.arrayBuffer()).equals(note)).toBe(true);
    // Saved as text whatever its name says, and read as UTF-8.
    expect(file.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(file.headers.get('content-disposition')).toBe(
      `attachment; filename="invoice.js.txt"; filename*=UTF-8''invoice.js.txt`,
    );
  });

  it('lets exactly one of two concurrent sends take the same attachment', async () => {
    const alice = await stack.user();
    const conversationId = await conversationOf(alice);
    const photo = await uploaded(alice, conversationId, png);
    const answers = await Promise.all([
      send(alice, conversationId, { content: 'one', attachmentIds: [photo.id] }),
      send(alice, conversationId, { content: 'two', attachmentIds: [photo.id] }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    const page = await stack.request('GET', `/v1/messages/conversations/${conversationId}/messages`, {
      token: alice.token,
    });
    expect(page.body.items.filter((m: { attachments: unknown[] }) => m.attachments.length === 1)).toHaveLength(1);
  });

  it('deletes the objects with their message, and sweeps uploads never sent', async () => {
    const [alice, bob] = await Promise.all([stack.user(), stack.user()]);
    const conversationId = await conversationOf(alice, bob);
    const photo = await uploaded(alice, conversationId, png);
    const quote = await uploaded(alice, conversationId, pdf, 'application/pdf', 'quote.pdf');
    const sent = await send(alice, conversationId, { attachmentIds: [photo.id, quote.id] });
    const keys = await objectKeys(conversationId);
    expect(keys).toHaveLength(2);

    const deleted = await stack.request('DELETE', `/v1/messages/${sent.body.id}`, { token: alice.token });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ content: null, attachments: [], deletedAt: expect.any(String) });
    expect(await objectKeys(conversationId)).toEqual([]);
    await expect(
      s3.send(new HeadObjectCommand({ Bucket: stack.server.attachments.name, Key: keys[0] })),
    ).rejects.toMatchObject({
      name: 'NotFound',
    });
    expect((await stack.request('GET', `/v1/messages/attachments/${photo.id}`, { token: bob.token })).status).toBe(404);

    // An upload never sent: swept once it is 24 hours old, row and object; a fresh one stays.
    const forgotten = await uploaded(alice, conversationId, png);
    const fresh = await uploaded(alice, conversationId, png);
    await sql`UPDATE attachments SET created_at = now() - interval '25 hours' WHERE id = ${forgotten.id}::uuid`.execute(
      stack.database.db,
    );
    const swept = await stack.server.attachments.sweep();
    expect(swept.deleted).toBeGreaterThanOrEqual(3);
    expect(await stateOf(forgotten.id)).toBeUndefined();
    expect(await stateOf(photo.id)).toBeUndefined();
    expect(await stateOf(fresh.id)).toBe('ready');
    expect(await objectKeys(conversationId)).toEqual([`attachments/${conversationId}/${fresh.id}`]);
    const late = await send(alice, conversationId, { attachmentIds: [forgotten.id] });
    expect(late.status).toBe(400);
  });
});
