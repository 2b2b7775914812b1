import { type ChildProcess, fork } from 'node:child_process';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Context } from 'aws-lambda';
import { LOCAL_WEBSOCKET_PATH } from '../realtime/routes';
import type { WebSocketLambda } from './local-websocket';

/**
 * The local stack's side of the WebSocket API, which runs in a process of its own
 * (./websocket-gateway-child.ts). Why a process: in AWS the sockets, their frames and the
 * management API are API Gateway's work, on API Gateway's machines; run in the stack's process
 * they took ~0.3 ms of its CPU per push, which the service does not pay, and serialised every
 * push behind the Lambdas' work. In a process of their own they cost what they cost, on their
 * own core when one is free, and what the stack's process spends on a push is what a pushing
 * Lambda spends: signing and sending PostToConnection.
 *
 * This side accepts the handshake on the HTTP API's port and hands the socket to the gateway,
 * runs the route Lambdas and the authorizer the gateway invokes, and forwards the management API
 * under the stack's URL (`/ws/@connections/{id}`, for callers outside) to the gateway's own port,
 * which the functions' publisher calls directly (`managementEndpoint`).
 */
export interface UpgradeRequest {
  method: string;
  url: string;
  httpVersion: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
}

export type StackToGateway =
  | { type: 'upgrade'; request: UpgradeRequest; head: string }
  | { type: 'result'; invocation: number; value?: unknown; error?: { message: string; stack?: string } }
  | { type: 'close' };

export type GatewayToStack =
  | { type: 'ready'; managementPort: number }
  | { type: 'invoke'; invocation: number; functionName: string; event: unknown }
  | { type: 'closed' };

export interface WebSocketGatewayOptions {
  load: (id: string) => Promise<WebSocketLambda>;
  context: (functionName: string) => Context;
  idleSeconds: number;
  maxSeconds: number;
}

const connectionsPath = `${LOCAL_WEBSOCKET_PATH}/@connections/`;

export class WebSocketGatewayProcess {
  private readonly pending = new Set<Promise<unknown>>();

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: WebSocketGatewayOptions,
    /** `http://127.0.0.1:{port}/ws`: the gateway's management API, where the publisher posts. */
    readonly managementEndpoint: string,
  ) {
    child.on('message', (message: GatewayToStack) => {
      if (message.type === 'invoke') this.track(this.invoke(message));
    });
    child.on('exit', (code, signal) => {
      if (!this.closing)
        console.error(
          JSON.stringify({
            level: 'error',
            message: 'the WebSocket gateway exited',
            code,
            signal: signal ?? undefined,
          }),
        );
    });
  }

  private closing = false;

  static async start(options: WebSocketGatewayOptions): Promise<WebSocketGatewayProcess> {
    const child = fork(new URL('./websocket-gateway-child.ts', import.meta.url), [], {
      // The child is TypeScript like the rest: tsx loads it, as it loads `npm start`.
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        LOCAL_GATEWAY_IDLE_SECONDS: String(options.idleSeconds),
        LOCAL_GATEWAY_MAX_SECONDS: String(options.maxSeconds),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      const ready = (message: GatewayToStack) => {
        if (message.type !== 'ready') return;
        child.off('message', ready);
        child.off('exit', exited);
        resolve(message.managementPort);
      };
      const exited = (code: number | null) => reject(new Error(`the WebSocket gateway exited with ${code}`));
      child.on('message', ready);
      child.once('exit', exited);
    });
    return new WebSocketGatewayProcess(child, options, `http://127.0.0.1:${port}${LOCAL_WEBSOCKET_PATH}`);
  }

  /** The gateway's process id (the benchmark reads its CPU time). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether a request is for the management API (`/ws/@connections/…`). */
  isManagementRequest(pathname: string): boolean {
    return pathname.startsWith(connectionsPath);
  }

  /** The http server's `upgrade` event: the socket goes to the gateway, which answers the handshake. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const request: UpgradeRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    };
    this.child.send(
      { type: 'upgrade', request, head: head.toString('base64') } satisfies StackToGateway,
      socket as Socket,
    );
  }

  /** The management API under the stack's URL, for callers outside: forwarded to the gateway as it came. */
  handleManagement(req: IncomingMessage, res: ServerResponse, _url: URL, body: Buffer): void {
    const target = new URL(this.managementEndpoint);
    const forwarded = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'content-length': String(body.length) },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Bad Gateway' }));
    });
    forwarded.end(body);
  }

  /** Closes every socket (each runs $disconnect here), then the gateway process. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const closed = new Promise<void>((resolve) =>
      this.child.on('message', (message: GatewayToStack) => message.type === 'closed' && resolve()),
    );
    this.child.send({ type: 'close' } satisfies StackToGateway);
    await Promise.race([closed, exited]);
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    if (this.child.connected) this.child.disconnect();
    await exited;
  }

  /** A Lambda the gateway invokes: run here, answered with its result or its error. */
  private async invoke({ invocation, functionName, event }: Extract<GatewayToStack, { type: 'invoke' }>) {
    let answer: StackToGateway;
    try {
      const handler = await this.options.load(functionName);
      const value = await handler(event as never, this.options.context(functionName));
      answer = { type: 'result', invocation, value };
    } catch (error) {
      const e = error as Error;
      answer = { type: 'result', invocation, error: { message: String(e?.message ?? e), stack: e?.stack } };
    }
    if (this.child.connected) this.child.send(answer);
  }

  private track(work: Promise<unknown>) {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }
}
