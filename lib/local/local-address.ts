import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { localSettings } from '../config';
import { LOCAL_WEBSOCKET_PATH } from '../realtime/routes';

/**
 * Where the local stack listens, and how the other commands find it: `npm start` listens on
 * HOST:PORT (default 127.0.0.1:3000) and records its URL in `.data/local-stack.json` (as the
 * JWT key is shared through `.data/local-jwt-key.json`); a client command uses PORT/HOST when
 * set, else the recorded URL of the running stack, else the default.
 */
export const DEFAULT_PORT = 3000;
export const DEFAULT_HOST = '127.0.0.1';

export function listenAddress(env: NodeJS.ProcessEnv = process.env): { port: number; host: string } {
  const { PORT, HOST } = localSettings(env);
  return { port: PORT, host: HOST };
}

export function runningStackFile(env: NodeJS.ProcessEnv = process.env): string {
  return localSettings(env).LOCAL_STACK_FILE;
}

/** A URL a client can connect to: a wildcard listen address means this machine. */
export function clientUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? DEFAULT_HOST : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * Called by `npm start` once it listens; `forgetRunningStack` on the way out. A stack recorded
 * by another process that is still alive keeps its place (the first running stack wins, so a
 * benchmark's short-lived server does not take it over).
 */
export function recordRunningStack(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  webSocketUrl: string = webSocketUrlOf(url),
): boolean {
  const file = runningStackFile(env);
  const current = recordedStack(file);
  if (current && current.pid !== process.pid && alive(current.pid)) return false;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ url, webSocketUrl, pid: process.pid })}\n`);
  return true;
}

export function forgetRunningStack(url: string, env: NodeJS.ProcessEnv = process.env): void {
  const file = runningStackFile(env);
  const current = recordedStack(file);
  if (current?.url === url && current.pid === process.pid) rmSync(file, { force: true });
}

/** The WebSocket API of a stack at `url`: same host and port, path /ws. */
export function webSocketUrlOf(url: string): string {
  return `${url.replace(/^http/, 'ws')}${LOCAL_WEBSOCKET_PATH}`;
}

function recordedStack(file: string): { url: string; webSocketUrl: string; pid?: number } | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { url?: unknown; webSocketUrl?: unknown; pid?: unknown };
    if (typeof parsed.url !== 'string') return undefined;
    return {
      url: parsed.url,
      // A record written before the WebSocket API existed has none: derived, as the stack serves it.
      webSocketUrl: typeof parsed.webSocketUrl === 'string' ? parsed.webSocketUrl : webSocketUrlOf(parsed.url),
      pid: typeof parsed.pid === 'number' ? parsed.pid : undefined,
    };
  } catch {
    return undefined;
  }
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The local stack's URL for a client command, and how it was found (for error messages). */
export function discoverLocalStack(env: NodeJS.ProcessEnv = process.env): {
  url: string;
  webSocketUrl: string;
  source: string;
} {
  if (env.PORT !== undefined || env.HOST !== undefined) {
    const { port, host } = listenAddress(env);
    const url = clientUrl(host, port);
    return { url, webSocketUrl: webSocketUrlOf(url), source: 'PORT/HOST' };
  }
  const recorded = recordedStack(runningStackFile(env));
  // A record left by a stack that died without cleaning up is ignored.
  if (recorded && alive(recorded.pid)) {
    return { url: recorded.url, webSocketUrl: recorded.webSocketUrl, source: runningStackFile(env) };
  }
  const url = clientUrl(DEFAULT_HOST, DEFAULT_PORT);
  return { url, webSocketUrl: webSocketUrlOf(url), source: 'the default' };
}
