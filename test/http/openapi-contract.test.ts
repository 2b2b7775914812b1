import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unsubscribeUrl } from '../../lib/notifications/unsubscribe';
import { config } from '../../lib/runtime';
import { type ApiResponse, TestStack, type TestUser } from '../support/http-stack';

/**
 * Walks the OpenAPI document the server publishes and checks, for every operation in it, real
 * responses (success and error) against the schemas the document declares. An operation with
 * no recipe here fails the test, so a new route cannot go unchecked.
 */
let stack: TestStack;
let doc: any;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

beforeAll(async () => {
  stack = await TestStack.start();
  doc = (await stack.request('GET', '/openapi.json')).body;
});
afterAll(async () => stack?.close());

interface World {
  alice: TestUser;
  bob: TestUser;
  admin: TestUser;
  conversationId: string;
  messageId: string;
  unsubscribeToken: (userId: string) => Promise<string>;
}

type Recipe = (w: World) => Promise<ApiResponse>;

const c = '/v1/messages/conversations';
const recipes: Record<string, Recipe[]> = {
  listConversations: [
    (w) => stack.request('GET', `${c}?limit=5`, { token: w.alice.token }),
    (w) => stack.request('GET', `${c}?limit=500`, { token: w.alice.token }),
  ],
  createConversation: [
    (w) => stack.request('POST', c, { token: w.alice.token, body: { type: 'general', participantIds: [w.bob.id] } }),
    (w) =>
      stack.request('POST', c, { token: w.alice.token, body: { type: 'general', participantIds: [randomUUID()] } }),
    (w) => stack.request('POST', c, { token: w.alice.token, rawBody: 'x', headers: { 'content-type': 'text/plain' } }),
  ],
  getConversation: [
    (w) => stack.request('GET', `${c}/${w.conversationId}`, { token: w.bob.token }),
    (w) => stack.request('GET', `${c}/${randomUUID()}`, { token: w.bob.token }),
  ],
  listMessages: [(w) => stack.request('GET', `${c}/${w.conversationId}/messages`, { token: w.bob.token })],
  sendMessage: [
    (w) =>
      stack.request('POST', `${c}/${w.conversationId}/messages`, {
        token: w.alice.token,
        body: { content: 'contract', clientMessageId: 'k1' },
      }),
    (w) =>
      stack.request('POST', `${c}/${w.conversationId}/messages`, {
        token: w.alice.token,
        body: { content: 'contract', clientMessageId: 'k1' },
      }),
  ],
  createAttachment: [
    (w) =>
      stack.request('POST', `${c}/${w.conversationId}/attachments`, {
        token: w.alice.token,
        body: { filename: 'quote.pdf', contentType: 'application/pdf', size: 1200 },
      }),
    (w) =>
      stack.request('POST', `${c}/${w.conversationId}/attachments`, {
        token: w.alice.token,
        body: { filename: 'page.html', contentType: 'text/html', size: 1200 },
      }),
    (w) =>
      stack.request('POST', `${c}/${w.conversationId}/attachments`, {
        token: w.alice.token,
        body: { filename: 'film.png', contentType: 'image/png', size: 1024 ** 3 },
      }),
  ],
  getAttachment: [
    async (w) => {
      const started = await stack.request('POST', `${c}/${w.conversationId}/attachments`, {
        token: w.alice.token,
        body: { filename: 'note.txt', contentType: 'text/plain', size: 5 },
      });
      const put = await fetch(started.body.upload.url, {
        method: 'PUT',
        headers: { 'Content-Type': 'text/plain', 'If-None-Match': '*' },
        body: 'hello',
      });
      expect(put.status).toBe(200);
      await stack.server.attachments.s3.settled();
      return stack.request('GET', `/v1/messages/attachments/${started.body.id}`, { token: w.alice.token });
    },
    (w) => stack.request('GET', `/v1/messages/attachments/${randomUUID()}`, { token: w.bob.token }),
  ],
  markMessageRead: [(w) => stack.request('PATCH', `/v1/messages/${w.messageId}/read`, { token: w.bob.token })],
  markConversationRead: [(w) => stack.request('PATCH', `${c}/${w.conversationId}/read`, { token: w.bob.token })],
  editMessage: [
    (w) => stack.request('PATCH', `/v1/messages/${w.messageId}`, { token: w.alice.token, body: { content: 'edited' } }),
    (w) => stack.request('PATCH', `/v1/messages/${w.messageId}`, { token: w.bob.token, body: { content: 'mine' } }),
    (w) => stack.request('PATCH', `/v1/messages/${randomUUID()}`, { token: w.bob.token, body: { content: 'x' } }),
    (w) => stack.request('PATCH', `/v1/messages/${w.messageId}`, { token: w.alice.token, body: { content: '' } }),
  ],
  deleteMessage: [
    async (w) => {
      const sent = await stack.request('POST', `${c}/${w.conversationId}/messages`, {
        token: w.alice.token,
        body: { content: 'to delete' },
      });
      return stack.request('DELETE', `/v1/messages/${sent.body.id}`, { token: w.alice.token });
    },
    (w) => stack.request('DELETE', `/v1/messages/${w.messageId}`, { token: w.bob.token }),
  ],
  addReaction: [
    (w) =>
      stack.request('PUT', `/v1/messages/${w.messageId}/reactions/${encodeURIComponent('👍🏽')}`, {
        token: w.bob.token,
      }),
    (w) => stack.request('PUT', `/v1/messages/${w.messageId}/reactions/abc`, { token: w.bob.token }),
    (w) =>
      stack.request('PUT', `/v1/messages/${randomUUID()}/reactions/${encodeURIComponent('👍')}`, {
        token: w.bob.token,
      }),
  ],
  removeReaction: [
    (w) =>
      stack.request('DELETE', `/v1/messages/${w.messageId}/reactions/${encodeURIComponent('👍🏽')}`, {
        token: w.bob.token,
      }),
  ],
  markMessageUnread: [
    (w) => stack.request('PATCH', `/v1/messages/${w.messageId}/unread`, { token: w.bob.token }),
    (w) => stack.request('PATCH', `/v1/messages/${randomUUID()}/unread`, { token: w.bob.token }),
  ],
  adminListMessageVersions: [
    (w) => stack.request('GET', `/v1/admin/messages/${w.messageId}/versions`, { token: w.admin.token }),
    (w) => stack.request('GET', `/v1/admin/messages/${w.messageId}/versions`, { token: w.bob.token }),
  ],
  addParticipant: [
    (w) =>
      stack.request('POST', `${c}/${w.conversationId}/participants`, {
        token: w.alice.token,
        body: { userId: w.admin.id },
      }),
  ],
  removeParticipant: [
    (w) => stack.request('DELETE', `${c}/${w.conversationId}/participants/${w.admin.id}`, { token: w.admin.token }),
  ],
  getUnreadTotal: [
    (w) => stack.request('GET', '/v1/messages/unread', { token: w.bob.token }),
    () => stack.request('GET', '/v1/messages/unread'),
  ],
  getProfile: [(w) => stack.request('GET', '/v1/me', { token: w.alice.token })],
  updateProfile: [
    (w) =>
      stack.request('PATCH', '/v1/me', {
        token: w.alice.token,
        body: { displayName: 'Alice Contract', notifications: { email: false } },
      }),
    (w) => stack.request('PATCH', '/v1/me', { token: w.alice.token, body: {} }),
  ],
  setConversationNotifications: [
    (w) =>
      stack.request('PATCH', `${c}/${w.conversationId}/notifications`, { token: w.bob.token, body: { muted: true } }),
    (w) => stack.request('PATCH', `${c}/${randomUUID()}/notifications`, { token: w.bob.token, body: { muted: true } }),
  ],
  unsubscribe: [
    async (w) =>
      stack.request(
        'POST',
        `/v1/notifications/unsubscribe?token=${encodeURIComponent(await w.unsubscribeToken(w.bob.id))}`,
        {
          rawBody: 'List-Unsubscribe=One-Click',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
      ),
    () => stack.request('POST', '/v1/notifications/unsubscribe?token=forged'),
    () => stack.request('POST', '/v1/notifications/unsubscribe'),
  ],
  unsubscribePage: [
    async (w) =>
      stack.request(
        'GET',
        `/v1/notifications/unsubscribe?token=${encodeURIComponent(await w.unsubscribeToken(w.bob.id))}`,
      ),
    () => stack.request('GET', '/v1/notifications/unsubscribe'),
  ],
  adminListConversations: [
    (w) => stack.request('GET', '/v1/admin/messages/conversations', { token: w.admin.token }),
    (w) => stack.request('GET', '/v1/admin/messages/conversations', { token: w.bob.token }),
  ],
  adminGetConversation: [
    (w) => stack.request('GET', `/v1/admin/messages/conversations/${w.conversationId}`, { token: w.admin.token }),
  ],
  adminSetConversationStatus: [
    (w) =>
      stack.request('PATCH', `/v1/admin/messages/conversations/${w.conversationId}`, {
        token: w.admin.token,
        body: { status: 'active' },
      }),
  ],
};

describe('the OpenAPI document matches what the API answers', () => {
  it('is OpenAPI 3.1 with an operation per route', () => {
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.values(doc.paths)
      .flatMap((p: any) => Object.values(p))
      .map((o: any) => o.operationId);
    expect(operations.sort()).toEqual(Object.keys(recipes).sort());
  });

  it('every documented operation answers with bodies that fit its documented schemas', async () => {
    const alice = await stack.user();
    const bob = await stack.user();
    const admin = await stack.user(['admin']);
    const created = await stack.request('POST', c, {
      token: alice.token,
      body: { type: 'general', participantIds: [bob.id] },
    });
    const sent = await stack.request('POST', `${c}/${created.body.id}/messages`, {
      token: alice.token,
      body: { content: 'first' },
    });
    const world: World = {
      alice,
      bob,
      admin,
      conversationId: created.body.id,
      messageId: sent.body.id,
      unsubscribeToken: async (userId) =>
        new URL(await unsubscribeUrl(config.notifications, userId)).searchParams.get('token') ?? '',
    };

    let checked = 0;
    let answered = 0;
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        const list = recipes[operation.operationId];
        expect(list, `no recipe for ${operation.operationId}`).toBeDefined();
        for (const recipe of list!) {
          const response = await recipe(world);
          answered += 1;
          const documented = operation.responses[String(response.status)];
          expect(
            documented,
            `${method.toUpperCase()} ${path} answered an undocumented ${response.status}: ${response.text}`,
          ).toBeDefined();
          if (documented.content?.['text/html']) {
            // A page: served as HTML, with a CSP that lets no script run.
            expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
            expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
            expect(response.text).toMatch(/^<!doctype html>/);
            continue;
          }
          const schema = documented.content?.['application/json']?.schema;
          if (!schema) {
            expect(response.text).toBe('');
            continue;
          }
          const validate = ajv.compile({ ...schema, components: doc.components });
          const ok = validate(response.body);
          expect(ok, `${operation.operationId} ${response.status}: ${JSON.stringify(validate.errors)}`).toBe(true);
          checked += 1;
        }
      }
    }
    const total = Object.values(recipes).flat().length;
    expect(answered).toBe(total);
    expect(checked).toBe(total - 2); // the one 204 has no body; the one page is HTML
  });

  it('serves a human page for the document from the installed package', async () => {
    const page = await fetch(`${stack.url}/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/docs/swagger-ui-bundle.js');
    const bundle = await fetch(`${stack.url}/docs/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});
