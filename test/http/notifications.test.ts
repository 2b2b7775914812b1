import { randomUUID } from 'node:crypto';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { EventBridgeEvent } from 'aws-lambda';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as onEmailFeedback } from '../../functions/events/on-email-feedback';
import { localFunctionNames } from '../../lib/local/local-notifications';
import { claimDigests, defaultDigestSettings } from '../../lib/messaging/digests';
import type { DigestRun } from '../../lib/notifications/send-digests';
import { useRuntime } from '../../lib/runtime';
import { TestStack, type TestUser } from '../support/http-stack';
import {
  eventually,
  headerOf,
  listMail,
  type Mail,
  mailTo,
  oneClickUnsubscribe,
  unsubscribeLinkOf,
  waitForMail,
} from '../support/mail';
import { backend, openPrivateTestDatabase } from '../support/test-database';
import { Device } from '../support/ws-client';

/**
 * Profiles, mute, email digests, the one-click unsubscribe, SES feedback and the outbox, end to
 * end through the local stack: users signed up through the Cognito trigger invoked with the real
 * Lambda client, mail read at GET /local/mail, events at GET /local/events. The stack sweeps every
 * second and a digest waits for messages two seconds old, as the tests of issue 16 run it.
 */
const DELAY_SECONDS = 2;
let stack: TestStack;
let lambda: LambdaClient;
/** Every digest sweep the stack ran (its 1 s timer and the tests' own calls), with its outcome. */
const sweeps: Array<{ run: Promise<DigestRun>; result?: DigestRun }> = [];

beforeAll(async () => {
  stack = await TestStack.start(await openPrivateTestDatabase('notifications'), {
    NOTIFY_DELAY_SECONDS: String(DELAY_SECONDS),
    NOTIFY_SWEEP_SECONDS: '1',
  });
  lambda = new LambdaClient({ endpoint: stack.url, region: process.env.AWS_REGION ?? 'us-east-1' });
  // Observe the sweeps (the timer calls this method too): what each claimed, sent and deferred.
  const notifications = stack.server.notifications;
  const sendDigests = notifications.sendDigests.bind(notifications);
  notifications.sendDigests = () => {
    const entry: { run: Promise<DigestRun>; result?: DigestRun } = { run: sendDigests() };
    entry.run.then(
      (result) => {
        entry.result = result;
      },
      () => {},
    );
    sweeps.push(entry);
    return entry.run;
  };
});
afterAll(async () => {
  lambda?.destroy();
  await stack?.close();
});

interface Member extends TestUser {
  email: string;
  name: string;
}

/**
 * A user as Cognito confirms them: the post-confirmation trigger, invoked through the local
 * stack's Lambda endpoint with the real client, records them with their email and name.
 */
async function signUp(name: string, groups: string[] = []): Promise<Member> {
  const id = randomUUID();
  const email = `${name.replace(/[^A-Za-z]/g, '') || 'user'}.${id.slice(0, 8)}@Example.test`;
  const event = {
    version: '1',
    region: process.env.AWS_REGION ?? 'us-east-1',
    userPoolId: 'us-east-1_local',
    userName: id,
    callerContext: { awsSdkVersion: 'aws-sdk-js-3', clientId: 'local' },
    triggerSource: 'PostConfirmation_ConfirmSignUp',
    request: { userAttributes: { sub: id, email, email_verified: 'true', name } },
    response: {},
  };
  const invoked = await lambda.send(
    new InvokeCommand({
      FunctionName: localFunctionNames.postConfirmation,
      InvocationType: 'RequestResponse',
      Payload: JSON.stringify(event),
    }),
  );
  expect(invoked.StatusCode).toBe(200);
  expect(invoked.FunctionError, Buffer.from(invoked.Payload ?? []).toString()).toBeUndefined();
  // Cognito needs the event back, unchanged.
  expect(JSON.parse(Buffer.from(invoked.Payload!).toString('utf8'))).toEqual(event);
  return { id, token: await stack.token(id, groups), email, name };
}

async function me(user: TestUser) {
  const response = await stack.request('GET', '/v1/me', { token: user.token });
  expect(response.status).toBe(200);
  return response.body;
}

const conversation = (creator: TestUser, others: TestUser[], subject?: string) =>
  stack.conversation(creator, others, subject);

async function send(user: TestUser, conversationId: string, content: string) {
  const sent = await stack.request('POST', `/v1/messages/conversations/${conversationId}/messages`, {
    token: user.token,
    body: { content },
  });
  expect(sent.status, sent.text).toBe(201);
  return sent.body as { id: string; createdAt: string };
}

async function markRead(user: TestUser, conversationId: string) {
  const read = await stack.request('PATCH', `/v1/messages/conversations/${conversationId}/read`, { token: user.token });
  expect(read.status, read.text).toBe(200);
}

function mute(user: TestUser, conversationId: string, muted = true) {
  return stack.request('PATCH', `/v1/messages/conversations/${conversationId}/notifications`, {
    token: user.token,
    body: { muted },
  });
}

interface DigestRow {
  id: string;
  user_id: string;
  recipient: string;
  attempts: number;
  sent_at: unknown;
  failed_at: unknown;
  lease_until: unknown;
}

/** The queued emails of a conversation (email_digests), oldest first. */
async function digestRows(conversationId: string): Promise<DigestRow[]> {
  const { rows } = await sql<DigestRow>`
    SELECT id, user_id, recipient, attempts, sent_at, failed_at, lease_until
      FROM email_digests WHERE conversation_id = ${conversationId}::uuid ORDER BY queued_at, id
  `.execute(stack.database.db);
  return rows.map((row) => ({ ...row, attempts: Number(row.attempts) }));
}

/** One more sweep, run to its end: whatever was due has been claimed and sent by then. */
async function sweepOnce(): Promise<DigestRun> {
  return stack.server.notifications.sendDigests();
}

/** Waits until every sweep started so far has finished (the timer's included). */
async function sweepsSettled() {
  await Promise.allSettled(sweeps.map((s) => s.run));
}

const messageLines = (mail: Mail) => mail.text ?? '';

describe(`profiles, digests and the outbox through the local stack on ${backend}`, () => {
  it('shows the profile Cognito gave, changes it with PATCH /v1/me, refuses bad bodies, and names participants', async () => {
    const alice = await signUp('Alice Example');
    const profile = await me(alice);
    expect(profile).toEqual({
      id: alice.id,
      email: alice.email,
      displayName: 'Alice Example',
      role: 'user',
      notifications: { email: true },
    });

    const renamed = await stack.request('PATCH', '/v1/me', {
      token: alice.token,
      body: { displayName: '  Alice B.  ' },
    });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.body).toEqual({ ...profile, displayName: 'Alice B.' });
    expect(await me(alice)).toEqual({ ...profile, displayName: 'Alice B.' });

    const off = await stack.request('PATCH', '/v1/me', {
      token: alice.token,
      body: { notifications: { email: false } },
    });
    expect(off.status, off.text).toBe(200);
    expect(off.body).toEqual({ ...profile, displayName: 'Alice B.', notifications: { email: false } });
    const on = await stack.request('PATCH', '/v1/me', {
      token: alice.token,
      body: { displayName: 'Alice', notifications: { email: true } },
    });
    expect(on.status, on.text).toBe(200);
    expect(on.body).toEqual({ ...profile, displayName: 'Alice', notifications: { email: true } });
    const hundred = 'x'.repeat(100);
    const longest = await stack.request('PATCH', '/v1/me', { token: alice.token, body: { displayName: hundred } });
    expect(longest.status, longest.text).toBe(200);
    expect(longest.body.displayName).toBe(hundred);
    await stack.request('PATCH', '/v1/me', { token: alice.token, body: { displayName: 'Alice' } });

    const before = await me(alice);
    const bad: unknown[] = [
      {},
      { displayName: '' },
      { displayName: '   ' },
      { displayName: 'x'.repeat(101) },
      { displayName: 'Al\u0000ice' },
      { displayName: 'Al\nice' },
      { displayName: 'Al\u202Eice' },
      { displayName: null },
      { displayName: 42 },
      { nickname: 'Al' },
      { displayName: 'Al', role: 'admin' },
      { email: 'mallory@example.test' },
      { notifications: { email: 'no' } },
      { notifications: { email: false, sms: true } },
      { notifications: {} },
      [],
    ];
    for (const body of bad) {
      const refused = await stack.request('PATCH', '/v1/me', { token: alice.token, body });
      expect(refused.status, `${JSON.stringify(body)} → ${refused.text}`).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      expect(refused.body.error).toEqual(
        expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
      );
    }
    expect(await me(alice)).toEqual(before);

    // Participants carry their names; someone Cognito never named has none.
    const bob = await signUp('Bob Builder');
    const anonymous = await stack.user();
    const conversationId = await conversation(alice, [bob, anonymous]);
    const shown = await stack.request('GET', `/v1/messages/conversations/${conversationId}`, { token: bob.token });
    expect(shown.status).toBe(200);
    const names = Object.fromEntries(
      (shown.body.participants as Array<{ userId: string; displayName: string | null }>).map((p) => [
        p.userId,
        p.displayName,
      ]),
    );
    expect(names).toEqual({ [alice.id]: 'Alice', [bob.id]: 'Bob Builder', [anonymous.id]: null });
    // A rename shows at once.
    await stack.request('PATCH', '/v1/me', { token: bob.token, body: { displayName: 'Robert' } });
    const again = await stack.request('GET', `/v1/messages/conversations/${conversationId}`, { token: alice.token });
    expect(again.body.participants.find((p: { userId: string }) => p.userId === bob.id).displayName).toBe('Robert');
  });

  it("records a blank or control-only Cognito name as no name, and keeps an admin's role", async () => {
    for (const blank of ['   ', '\u0000\u0007']) {
      const user = await signUp(blank);
      expect.soft((await me(user)).displayName, JSON.stringify(blank)).toBeNull();
    }
    // A user who has a name keeps it when Cognito sends a blank one again.
    const named = await signUp('Named');
    await lambda.send(
      new InvokeCommand({
        FunctionName: localFunctionNames.postConfirmation,
        Payload: JSON.stringify({
          version: '1',
          region: 'us-east-1',
          userPoolId: 'us-east-1_local',
          userName: named.id,
          callerContext: { awsSdkVersion: 'aws-sdk-js-3', clientId: 'local' },
          triggerSource: 'PostConfirmation_ConfirmSignUp',
          request: { userAttributes: { sub: named.id, email: named.email, name: '  ' } },
          response: {},
        }),
      }),
    );
    expect.soft((await me(named)).displayName, 'a blank name from Cognito replaced the one given').toBe('Named');
    const admin = await signUp('Ada Admin', ['admin']);
    expect(await me(admin)).toEqual(expect.objectContaining({ role: 'admin', displayName: 'Ada Admin' }));
  });

  it('mutes a conversation for the caller alone; a non-participant gets 404', async () => {
    const [alice, bob, outsider, admin] = await Promise.all([
      stack.user(),
      stack.user(),
      stack.user(),
      stack.user(['admin']),
    ]);
    const conversationId = await conversation(alice, [bob]);

    const muted = await mute(bob, conversationId);
    expect(muted.status, muted.text).toBe(200);
    expect(muted.body).toEqual({ conversationId, muted: true });
    const asBob = await stack.request('GET', `/v1/messages/conversations/${conversationId}`, { token: bob.token });
    expect(asBob.body.muted).toBe(true);
    const asAlice = await stack.request('GET', `/v1/messages/conversations/${conversationId}`, { token: alice.token });
    expect(asAlice.body.muted).toBe(false);
    const listed = await stack.request('GET', '/v1/messages/conversations', { token: bob.token });
    expect(listed.body.items.find((c: { id: string }) => c.id === conversationId).muted).toBe(true);

    for (const stranger of [outsider, admin]) {
      const refused = await mute(stranger, conversationId);
      expect(refused.status, refused.text).toBe(404);
      expect(refused.body.error.code).toEqual(expect.any(String));
    }
    const missing = await mute(alice, randomUUID());
    expect(missing.status).toBe(404);
    for (const body of [{}, { muted: 'yes' }, { muted: true, extra: 1 }]) {
      const refused = await stack.request('PATCH', `/v1/messages/conversations/${conversationId}/notifications`, {
        token: bob.token,
        body,
      });
      expect(refused.status, JSON.stringify(body)).toBe(400);
    }
    const asAdmin = await stack.request('GET', `/v1/admin/messages/conversations/${conversationId}`, {
      token: admin.token,
    });
    expect(asAdmin.body.muted).toBeNull();

    const unmuted = await mute(bob, conversationId, false);
    expect(unmuted.body).toEqual({ conversationId, muted: false });
    const after = await stack.request('GET', `/v1/messages/conversations/${conversationId}`, { token: bob.token });
    expect(after.body.muted).toBe(false);
  });

  it.concurrent('emails one digest per window to the unread, offline, subscribed recipients only, and never twice', async () => {
    const [alice, bob, carol, dave, erin, frank] = await Promise.all([
      signUp('Alice Sender'),
      signUp('Bob Unread'),
      signUp('Carol Muted'),
      signUp('Dave OptedOut'),
      signUp('Erin Reader'),
      signUp('Frank Online'),
    ]);
    const conversationId = await conversation(alice, [bob, carol, dave, erin, frank], 'Weekly plan');
    expect((await mute(carol, conversationId)).status).toBe(200);
    expect(
      (await stack.request('PATCH', '/v1/me', { token: dave.token, body: { notifications: { email: false } } })).status,
    ).toBe(200);
    const device = await Device.open(stack.url, frank.token);
    try {
      const { rows: connected } = await sql<{ n: string }>`
        SELECT count(*) AS n FROM connections WHERE user_id = ${frank.id}::uuid AND expires_at > now()`.execute(
        stack.database.db,
      );
      expect(Number(connected[0]!.n)).toBe(1);

      const first = await send(alice, conversationId, 'first: the plan for Monday');
      await send(alice, conversationId, 'second: bring the drill');
      const third = await send(alice, conversationId, 'third: see you at 9');
      await markRead(erin, conversationId);

      const [digest] = await waitForMail(stack.url, bob.email);
      // A sweep that started after the one that sent Bob's digest: every claim that could include
      // anyone else in this conversation has finished.
      await sweepsSettled();
      await sweepOnce();

      expect(await mailTo(stack.url, bob.email)).toHaveLength(1);
      for (const nobody of [alice, carol, dave, erin, frank]) {
        expect(await mailTo(stack.url, nobody.email), nobody.name).toEqual([]);
      }
      expect((await digestRows(conversationId)).map((r) => r.user_id)).toEqual([bob.id]);

      // Not before the messages were NOTIFY_DELAY_SECONDS old.
      expect(Date.parse(digest!.sentAt) - Date.parse(first.createdAt)).toBeGreaterThanOrEqual(
        DELAY_SECONDS * 1000 - 50,
      );
      expect(digest!.to).toEqual([bob.email]);
      expect(digest!.subject).toContain('Weekly plan');
      expect(digest!.subject).toContain('3 unread messages');
      const text = messageLines(digest!);
      expect(text).toContain('Alice Sender');
      expect(text).toContain('Hello Bob Unread,');
      const order = ['first: the plan for Monday', 'second: bring the drill', 'third: see you at 9'].map((m) =>
        text.indexOf(m),
      );
      expect(order.every((i) => i >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(digest!.html).toContain('Alice Sender');
      expect(digest!.html).toContain('third: see you at 9');

      // Later sweeps send nothing more for the same messages.
      await sweepOnce();
      await sweepOnce();
      expect(await mailTo(stack.url, bob.email)).toHaveLength(1);

      // A message after the window: a new digest with it alone, to Bob and to Erin (who read the rest).
      expect(Date.now() - Date.parse(third.createdAt)).toBeGreaterThan(0);
      await send(alice, conversationId, 'fourth: moved to 10');
      const [, second] = await waitForMail(stack.url, bob.email, 2);
      const [erins] = await waitForMail(stack.url, erin.email, 1);
      await sweepsSettled();
      await sweepOnce();
      for (const mail of [second!, erins!]) {
        expect(mail.subject).toContain('1 unread message');
        expect(mail.text).toContain('fourth: moved to 10');
        expect(mail.text).not.toContain('first: the plan');
        expect(mail.text).not.toContain('third: see you');
      }
      expect(await mailTo(stack.url, bob.email)).toHaveLength(2);
      expect(await mailTo(stack.url, erin.email)).toHaveLength(1);
      for (const nobody of [alice, carol, dave, frank]) {
        expect(await mailTo(stack.url, nobody.email), nobody.name).toEqual([]);
      }
    } finally {
      // Nothing left due for the tests after this one.
      await markRead(frank, conversationId);
      await device.close();
    }
  });

  it.concurrent('escapes what users wrote in the HTML part and keeps it verbatim in the text part', async () => {
    const [alice, bob] = await Promise.all([signUp('Alice'), signUp('Bob')]);
    await stack.request('PATCH', '/v1/me', { token: alice.token, body: { displayName: '<b>Alice</b> & co' } });
    const subject = '<script>alert("subject")</script> & plans';
    const attack = '<img src=x onerror=alert(1)>';
    const conversationId = await conversation(alice, [bob], subject);
    await send(alice, conversationId, attack);

    const [mail] = await waitForMail(stack.url, bob.email);
    const html = mail!.html!;
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<b>/i);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt; &amp; plans');
    expect(html).toContain('&lt;b&gt;Alice&lt;/b&gt; &amp; co');
    expect(mail!.text).toContain(attack);
    expect(mail!.text).toContain(subject);
    expect(mail!.text).toContain('<b>Alice</b> & co');
    expect(mail!.subject).toContain(subject);
  });

  it.concurrent('unsubscribes with one click (RFC 8058), by the token alone, and only its own user', async () => {
    const [alice, bob, carol] = await Promise.all([signUp('Alice'), signUp('Bob'), signUp('Carol')]);
    const conversationId = await conversation(alice, [bob, carol], 'Unsubscribe me');
    await send(alice, conversationId, 'hello both');
    const [bobs] = await waitForMail(stack.url, bob.email);
    const [carols] = await waitForMail(stack.url, carol.email);

    for (const mail of [bobs!, carols!]) {
      expect(headerOf(mail, 'List-Unsubscribe')).toMatch(/^<https?:\/\/[^<>]+>$/);
      expect(headerOf(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    }
    const bobLink = unsubscribeLinkOf(bobs!);
    const carolLink = unsubscribeLinkOf(carols!);
    expect(bobLink.startsWith(`${stack.url}/v1/notifications/unsubscribe?token=`)).toBe(true);
    expect(bobs!.text).toContain(bobLink);
    const bobToken = new URL(bobLink).searchParams.get('token')!;
    const endpoint = `${stack.url}/v1/notifications/unsubscribe`;
    const withToken = (token: string) => `${endpoint}?token=${encodeURIComponent(token)}`;
    const emailOn = async (user: TestUser) => (await me(user)).notifications.email as boolean;

    // One character altered (in the MAC or the payload): 403, nothing changes.
    const [payload, signature] = bobToken.split('.') as [string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    for (const altered of [`${payload}.${flip(signature, 10)}`, `${flip(payload, 5)}.${signature}`]) {
      const refused = await oneClickUnsubscribe(withToken(altered));
      expect(refused.status, refused.text).toBe(403);
      expect(refused.body.error.code).toEqual(expect.any(String));
    }
    // Bob's token rewritten to name Carol, Bob's MAC kept: 403.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const forged = `${Buffer.from(JSON.stringify({ ...claims, sub: carol.id })).toString('base64url')}.${signature}`;
    expect((await oneClickUnsubscribe(withToken(forged))).status).toBe(403);
    // An API access token is not an unsubscribe token.
    expect((await oneClickUnsubscribe(withToken(await stack.token(bob.id)))).status).toBe(403);
    // No token: 400.
    const missing = await oneClickUnsubscribe(endpoint);
    expect(missing.status, missing.text).toBe(400);
    expect(missing.body.error.code).toEqual(expect.any(String));
    expect((await oneClickUnsubscribe(`${endpoint}?token=`)).status).toBe(400);
    // A GET (a person opening the footer link, or a link scanner fetching it) shows a page whose
    // button sends the POST, and changes nothing (RFC 8058: only the POST unsubscribes).
    const fetched = await fetch(bobLink);
    const page = await fetched.text();
    expect(fetched.status, page).toBe(200);
    expect(fetched.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page).toContain(`<form method="post" action="?token=${new URL(bobLink).searchParams.get('token')}">`);
    expect(await emailOn(bob)).toBe(true);
    expect(await emailOn(carol)).toBe(true);

    // The real link, posted as a mail app posts it, without Authorization.
    const done = await oneClickUnsubscribe(bobLink);
    expect(done.status, done.text).toBe(200);
    expect(done.body).toEqual({ unsubscribed: true });
    expect(await emailOn(bob)).toBe(false);
    expect(await emailOn(carol)).toBe(true);
    // Again: the same answer.
    const repeated = await oneClickUnsubscribe(bobLink);
    expect(repeated.status).toBe(200);
    expect(repeated.body).toEqual({ unsubscribed: true });

    // The next message reaches Carol, not Bob.
    await send(alice, conversationId, 'hello again');
    await waitForMail(stack.url, carol.email, 2);
    await sweepsSettled();
    await sweepOnce();
    expect(await mailTo(stack.url, bob.email)).toHaveLength(1);
    expect((await digestRows(conversationId)).filter((r) => r.user_id === bob.id)).toHaveLength(1);

    // Carol's own link still works, for Carol alone.
    expect((await oneClickUnsubscribe(carolLink)).status).toBe(200);
    expect(await emailOn(carol)).toBe(false);
  });

  it('sends a digest once after a sweep died between claim and send, and after SES failed a send', async () => {
    const { domain } = await useRuntime();
    const [alice, bob] = await Promise.all([signUp('Alice'), signUp('Bob Crash')]);
    const conversationId = await conversation(alice, [bob]);
    await send(alice, conversationId, 'will it arrive?');
    // The crash: a sweep claims (no delay, so that it, not the 1 s timer, claims this digest) and
    // dies before sending. Its claim lasts a second.
    const claimed = await claimDigests(domain, { ...defaultDigestSettings, delaySeconds: 0, leaseSeconds: 1 });
    expect(claimed.filter((d) => d.userId === bob.id)).toEqual([
      expect.objectContaining({ conversationId, recipient: bob.email, attempts: 1 }),
    ]);
    expect(await mailTo(stack.url, bob.email)).toEqual([]);

    const [mail] = await waitForMail(stack.url, bob.email, 1, 10_000);
    expect(mail!.text).toContain('will it arrive?');
    await sweepsSettled();
    await sweepOnce();
    await sweepOnce();
    expect(await mailTo(stack.url, bob.email)).toHaveLength(1);
    const [row] = await digestRows(conversationId);
    expect(row).toEqual(expect.objectContaining({ user_id: bob.id, attempts: 2, failed_at: null }));
    expect(row!.sent_at).not.toBeNull();
    expect(await digestRows(conversationId)).toHaveLength(1);

    // SES fails the next send (sending paused): the sweep leaves the email claimed; once its lease
    // has run out (120 s in the sweep function, ended here), a later sweep sends it, once.
    const carol = await signUp('Carol Retry');
    const retried = await conversation(alice, [carol]);
    await sweepsSettled();
    const deferredBefore = sweeps.reduce((n, s) => n + (s.result?.deferred ?? 0), 0);
    stack.server.notifications.ses.failNext(1);
    await send(alice, retried, 'second try');
    await eventually(
      async () => {
        await sweepsSettled();
        return sweeps.reduce((n, s) => n + (s.result?.deferred ?? 0), 0) > deferredBefore;
      },
      { what: 'a deferred send' },
    );
    expect(await mailTo(stack.url, carol.email)).toEqual([]);
    const [pending] = await digestRows(retried);
    expect(pending).toEqual(
      expect.objectContaining({ user_id: carol.id, attempts: 1, sent_at: null, failed_at: null }),
    );
    await sweepOnce();
    expect(await mailTo(stack.url, carol.email)).toEqual([]);

    await sql`UPDATE email_digests SET lease_until = now() WHERE id = ${pending!.id}::uuid`.execute(stack.database.db);
    await sweepOnce();
    const [resent] = await waitForMail(stack.url, carol.email, 1, 5_000);
    expect(resent!.text).toContain('second try');
    await sweepsSettled();
    await sweepOnce();
    expect(await mailTo(stack.url, carol.email)).toHaveLength(1);
    const [settled] = await digestRows(retried);
    expect(settled).toEqual(expect.objectContaining({ attempts: 2, failed_at: null }));
    expect(settled!.sent_at).not.toBeNull();
  });

  it('does not send a queued digest whose recipient bounced or unsubscribed before the retry', async () => {
    const [alice, dave, erin] = await Promise.all([signUp('Alice'), signUp('Dave Bounced'), signUp('Erin Off')]);
    const conversationId = await conversation(alice, [dave, erin]);
    await sweepsSettled();
    const deferredBefore = sweeps.reduce((n, s) => n + (s.result?.deferred ?? 0), 0);
    stack.server.notifications.ses.failNext(2);
    await send(alice, conversationId, 'are you there?');
    await eventually(
      async () => {
        await sweepsSettled();
        return sweeps.reduce((n, s) => n + (s.result?.deferred ?? 0), 0) >= deferredBefore + 2;
      },
      { what: 'two deferred sends' },
    );
    const queued = await digestRows(conversationId);
    expect(queued.map((r) => [r.user_id, r.sent_at]).sort()).toEqual(
      [
        [dave.id, null],
        [erin.id, null],
      ].sort(),
    );
    // While the emails wait for their retry, Dave's address bounces for good and Erin turns email off.
    const bounced = await onEmailFeedback({
      version: '0',
      id: randomUUID(),
      'detail-type': 'Email Bounced',
      source: 'aws.ses',
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: {
        eventType: 'Bounce',
        bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: dave.email }] },
      },
    });
    expect(bounced.suppressed).toBe(1);
    const off = await stack.request('PATCH', '/v1/me', {
      token: erin.token,
      body: { notifications: { email: false } },
    });
    expect(off.status).toBe(200);

    await sql`UPDATE email_digests SET lease_until = now() WHERE conversation_id = ${conversationId}::uuid`.execute(
      stack.database.db,
    );
    await sweepsSettled();
    await sweepOnce();
    await sweepOnce();
    expect(await mailTo(stack.url, dave.email)).toEqual([]);
    expect(await mailTo(stack.url, erin.email)).toEqual([]);
  });

  it("nudges the relay once a write's statement has returned, beside its pushes, and not for a refused write", async () => {
    const [alice, bob] = await Promise.all([stack.user(), stack.user()]);
    const conversationId = await conversation(alice, [bob]);
    await sql`INSERT INTO connections (connection_id, user_id, expires_at)
              VALUES (${`nudge-${randomUUID()}`}, ${bob.id}::uuid, now() + interval '1 hour')`.execute(
      stack.database.db,
    );
    const runtime = await useRuntime();
    const { relay, domain } = runtime;
    const { publisher } = domain;
    const steps: string[] = [];
    const step = async (name: string) => {
      steps.push(`${name} started`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      steps.push(`${name} ended`);
    };
    runtime.relay = { nudge: () => step('nudge') };
    domain.publisher = {
      publish: async ({ connectionIds }) => {
        await step('push');
        return { delivered: connectionIds.length, gone: [], failed: 0 };
      },
    };
    try {
      await send(alice, conversationId, 'nudged beside the push');
      steps.push('answered');
      // Both started before either ended (the request waits for the slower, not for the sum), and
      // the answer came after both.
      expect(steps.slice(0, 2).sort()).toEqual(['nudge started', 'push started']);
      expect(steps.slice(2, 4).sort()).toEqual(['nudge ended', 'push ended']);
      expect(steps[4]).toBe('answered');
      steps.length = 0;
      const refused = await stack.request('POST', `/v1/messages/conversations/${randomUUID()}/messages`, {
        token: alice.token,
        body: { content: 'to no conversation' },
      });
      expect(refused.status).toBe(404);
      expect(steps).toEqual([]);
    } finally {
      runtime.relay = relay;
      domain.publisher = publisher;
    }
  });

  it('publishes every change through the outbox to EventBridge, each event once, under concurrent relays', async () => {
    const [alice, bob, carol, admin] = await Promise.all([
      stack.user(),
      stack.user(),
      stack.user(),
      stack.user(['admin']),
    ]);
    const conversationId = await conversation(alice, [bob]);
    const message = await send(alice, conversationId, 'an event');
    const read = await stack.request('PATCH', `/v1/messages/${message.id}/read`, { token: bob.token });
    expect(read.status, read.text).toBe(200);
    const added = await stack.request('POST', `/v1/messages/conversations/${conversationId}/participants`, {
      token: alice.token,
      body: { userId: carol.id },
    });
    expect(added.status, added.text).toBe(201);
    const again = await stack.request('POST', `/v1/messages/conversations/${conversationId}/participants`, {
      token: alice.token,
      body: { userId: carol.id },
    });
    expect(again.status, again.text).toBe(200);
    const removed = await stack.request(
      'DELETE',
      `/v1/messages/conversations/${conversationId}/participants/${carol.id}`,
      { token: carol.token },
    );
    expect(removed.status, removed.text).toBe(204);
    const closed = await stack.request('PATCH', `/v1/admin/messages/conversations/${conversationId}`, {
      token: admin.token,
      body: { status: 'closed' },
    });
    expect(closed.status, closed.text).toBe(200);
    // Five relays at once, besides the writes' nudges and the 1 s schedule.
    await Promise.all(Array.from({ length: 5 }, () => stack.server.notifications.relay()));

    interface OutboxRow {
      id: string;
      detail_type: string;
      detail: Record<string, unknown> | string;
      published_at: unknown;
    }
    const outbox = async () =>
      (
        await sql<OutboxRow>`
          SELECT id, detail_type, detail, published_at FROM outbox_events
           WHERE detail->>'conversationId' = ${conversationId} ORDER BY created_at, id`.execute(stack.database.db)
      ).rows.map((row) => ({
        ...row,
        detail: (typeof row.detail === 'string' ? JSON.parse(row.detail) : row.detail) as Record<string, unknown>,
      }));
    const rows = await eventually(
      async () => {
        const current = await outbox();
        return current.length > 0 && current.every((r) => r.published_at !== null) ? current : undefined;
      },
      { what: 'every outbox row published' },
    );
    const types = rows.map((r) => r.detail_type);
    expect(new Set(types)).toEqual(
      new Set([
        'ConversationCreated',
        'ParticipantAdded',
        'MessageSent',
        'MessageRead',
        'ParticipantRemoved',
        'ConversationStatusChanged',
      ]),
    );
    expect(types.filter((t) => t === 'ParticipantAdded')).toHaveLength(3);
    expect(types.filter((t) => t === 'ConversationCreated')).toHaveLength(1);
    expect(types.filter((t) => t === 'MessageRead')).toHaveLength(1);
    const byType = (type: string) => rows.filter((r) => r.detail_type === type).map((r) => r.detail);
    expect(byType('MessageSent')).toContainEqual(
      expect.objectContaining({ messageId: message.id, senderId: alice.id, content: 'an event' }),
    );
    const sent = byType('MessageSent').find((d) => d.messageId === message.id)!;
    expect(byType('MessageRead')).toEqual([
      expect.objectContaining({ userId: bob.id, lastReadMessageId: message.id, lastReadSeq: sent.seq }),
    ]);
    expect(byType('ParticipantRemoved')).toEqual([expect.objectContaining({ userId: carol.id })]);
    expect(byType('ConversationStatusChanged')).toEqual([
      expect.objectContaining({ status: 'closed', previousStatus: 'active' }),
    ]);

    // The bus took each row's event once, from this service's source, with the row's type and detail.
    const events = await stack.request('GET', '/local/events');
    expect(events.status).toBe(200);
    const ours = (
      events.body.items as Array<{ source: string; 'detail-type': string; detail: Record<string, unknown> }>
    ).filter((e) => e.detail?.conversationId === conversationId);
    for (const row of rows) {
      const seen = ours.filter((e) => e.detail.eventId === row.id);
      expect(seen, `${row.detail_type} ${row.id}`).toHaveLength(1);
      expect(seen[0]!.source).toBe('messaging-service');
      expect(seen[0]!['detail-type']).toBe(row.detail_type);
      // As stored, with the row's id as the eventId and its time as occurredAt.
      expect(seen[0]!.detail).toEqual({ ...row.detail, eventId: row.id, occurredAt: expect.any(String) });
    }
    expect(ours).toHaveLength(rows.length);
  });

  it('turns email off on a permanent bounce or a complaint from SES, not on a transient bounce', async () => {
    const [bounced, transient, complained, bystander] = await Promise.all([
      signUp('Bounced'),
      signUp('Transient'),
      signUp('Complained'),
      signUp('Bystander'),
    ]);
    const envelope = (detailType: string, detail: unknown, source = 'aws.ses') =>
      ({
        version: '0',
        id: randomUUID(),
        'detail-type': detailType,
        source,
        account: '000000000000',
        time: new Date().toISOString(),
        region: 'us-east-1',
        resources: [],
        detail,
      }) as unknown as EventBridgeEvent<string, never>;
    const emailOn = async (user: TestUser) => (await me(user)).notifications.email as boolean;

    const permanent = await onEmailFeedback(
      envelope('Email Bounced', {
        eventType: 'Bounce',
        bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: bounced.email.toUpperCase() }] },
      }),
    );
    expect(permanent.suppressed).toBe(1);
    expect(await emailOn(bounced)).toBe(false);

    const soft = await onEmailFeedback(
      envelope('Email Bounced', {
        eventType: 'Bounce',
        bounce: { bounceType: 'Transient', bouncedRecipients: [{ emailAddress: transient.email.toLowerCase() }] },
      }),
    );
    expect(soft.suppressed).toBe(0);
    expect(await emailOn(transient)).toBe(true);

    const complaint = await onEmailFeedback(
      envelope('Email Complaint Received', {
        eventType: 'Complaint',
        complaint: { complainedRecipients: [{ emailAddress: complained.email.toLowerCase() }] },
      }),
    );
    expect(complaint.suppressed).toBe(1);
    expect(await emailOn(complained)).toBe(false);

    await expect(onEmailFeedback(envelope('Email Delivered', { eventType: 'Delivery' }))).rejects.toThrow();
    await expect(
      onEmailFeedback(
        envelope(
          'Email Bounced',
          {
            eventType: 'Bounce',
            bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: bystander.email }] },
          },
          'com.example.orders',
        ),
      ),
    ).rejects.toThrow();
    expect(await emailOn(bystander)).toBe(true);
    expect(await emailOn(transient)).toBe(true);
  });

  it('lists the captured mail at GET /local/mail as JSON, newest last, and clears it with DELETE', async () => {
    const items = await listMail(stack.url);
    expect(items.length).toBeGreaterThan(0);
    const times = items.map((m) => Date.parse(m.sentAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(items).toEqual(stack.server.notifications.ses.mail());
    const cleared = await fetch(`${stack.url}/local/mail`, { method: 'DELETE' });
    expect(cleared.status).toBe(204);
    expect(await listMail(stack.url)).toEqual([]);
  });
});
