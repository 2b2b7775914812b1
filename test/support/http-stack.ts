import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { DatabaseHandle } from '../../lib/db/create-database';
import { type LocalAuthConfig, loadOrCreateKey, localAuthConfig, signLocalToken } from '../../lib/local/local-auth';
import { type LocalStack, startLocalStack } from '../../lib/local/local-stack';
import { openTestDatabase } from './test-database';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface TestUser {
  id: string;
  token: string;
}

/** The local stack on a free port over this run's database, with a key pair of its own. */
export class TestStack {
  private constructor(
    readonly server: LocalStack,
    readonly database: DatabaseHandle,
    readonly auth: LocalAuthConfig,
  ) {}

  static async start(database?: DatabaseHandle, settings: Record<string, string> = {}): Promise<TestStack> {
    const env = {
      ...process.env,
      LOCAL_JWT_KEY_FILE: join(tmpdir(), `messaging-test-key-${randomUUID()}.json`),
      // Each stack's bucket in a directory of its own: test files run in parallel.
      LOCAL_S3_DIRECTORY: join(tmpdir(), `messaging-test-s3-${randomUUID()}`),
      ...settings,
    };
    const auth = localAuthConfig(env);
    await loadOrCreateKey(auth.keyFile);
    const db = database ?? (await openTestDatabase());
    const server = await startLocalStack(db, { port: 0, env });
    return new TestStack(server, db, auth);
  }

  get url() {
    return this.server.url;
  }

  private events?: EventBridgeClient;

  /** The real EventBridge client, pointed at the local stack's PutEvents, as the order service would use it. */
  eventBridge(): EventBridgeClient {
    this.events ??= new EventBridgeClient({
      endpoint: this.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    return this.events;
  }

  async close() {
    this.events?.destroy();
    await this.server.close();
    await this.database.close();
  }

  token(sub: string, groups: string[] = []) {
    return signLocalToken(this.auth, { sub, groups });
  }

  /** A new user, already seen by the API once (so others can add them to conversations). */
  async user(groups: string[] = []): Promise<TestUser> {
    const id = randomUUID();
    const token = await this.token(id, groups);
    const seen = await this.request('GET', '/v1/messages/unread', { token });
    if (seen.status !== 200) throw new Error(`could not introduce user: ${seen.status} ${seen.text}`);
    return { id, token };
  }

  /** A general conversation `creator` starts with `others`: its id (anything but 201 fails the test). */
  async conversation(creator: TestUser, others: TestUser[] = [], subject?: string): Promise<string> {
    const created = await this.request('POST', '/v1/messages/conversations', {
      token: creator.token,
      body: { type: 'general', subject, participantIds: others.map((o) => o.id) },
    });
    if (created.status !== 201) throw new Error(`creating a conversation answered ${created.status}: ${created.text}`);
    return created.body.id;
  }

  async request<T = any>(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed as T, text };
  }
}
