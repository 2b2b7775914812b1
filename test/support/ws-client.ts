import WebSocket from 'ws';
import type { ServerFrame } from '../../lib/realtime/frames';
import { LOCAL_WEBSOCKET_PATH } from '../../lib/realtime/routes';

/**
 * A real WebSocket client of the local stack, as an app's device would hold one: it keeps every
 * frame it receives, in order, for the tests to check.
 */
export class Device {
  readonly frames: ServerFrame[] = [];
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as ServerFrame);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Opens a socket with this token, or rejects with the HTTP status the gateway refused it with. */
  static open(httpUrl: string, token: string): Promise<Device> {
    const url = `${httpUrl.replace(/^http/, 'ws')}${LOCAL_WEBSOCKET_PATH}?token=${encodeURIComponent(token)}`;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(new Device(socket)));
      socket.once('unexpected-response', (_request, response) => reject(new RefusedError(response.statusCode ?? 0)));
      socket.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame));
  }

  /** Resolves once a frame matching `predicate` has arrived (or rejects after `timeoutMs`). */
  async waitFor(predicate: (frame: ServerFrame) => boolean, timeoutMs = 5000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The frames about one conversation. */
  about(conversationId: string): ServerFrame[] {
    return this.frames.filter((f) => conversationOf(f) === conversationId);
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/**
 * The devices a test file opens against its stack (read when a device opens: the stack starts in
 * beforeAll), closed together at its end.
 */
export function devicesOfFile(stack: () => { url: string }) {
  const opened: Device[] = [];
  return {
    async open(user: { token: string }): Promise<Device> {
      const device = await Device.open(stack().url, user.token);
      opened.push(device);
      return device;
    },
    closeAll: () => Promise.all(opened.map((d) => d.close())),
  };
}

export class RefusedError extends Error {
  constructor(readonly status: number) {
    super(`the gateway refused the connection with ${status}`);
  }
}

/**
 * The conversation a frame is about; undefined for `pong` and `error`. Every frame type is named,
 * so a new one fails to compile here until the tests that check audiences know about it.
 */
export function conversationOf(frame: ServerFrame): string | undefined {
  switch (frame.type) {
    case 'conversation.created':
    case 'conversation.updated':
      return frame.data.id;
    case 'message.created':
    case 'message.updated':
    case 'message.deleted':
    case 'conversation.read':
    case 'participant.added':
    case 'participant.removed':
    case 'typing':
      return frame.data.conversationId;
    case 'pong':
    case 'error':
      return undefined;
    default: {
      const unknown: never = frame;
      throw new Error(`a frame of no known type: ${JSON.stringify(unknown)}`);
    }
  }
}

/** Lets frames already written to the sockets arrive. */
export const settle = (ms = 100) => new Promise((resolve) => setTimeout(resolve, ms));
