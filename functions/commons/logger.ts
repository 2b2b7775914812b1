import { config } from './config';

/**
 * Structured JSON logs, one object per line. Written to stdout/stderr directly rather than through
 * console, which Lambda prefixes with a timestamp and request id, so every CloudWatch line is pure
 * JSON that Logs Insights parses. Callers pass ids, statuses and timings only: never message
 * content, subjects or tokens.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export const logger = {
  debug: (message: string, fields?: LogFields) => write('debug', message, fields),
  info: (message: string, fields?: LogFields) => write('info', message, fields),
  warn: (message: string, fields?: LogFields) => write('warn', message, fields),
  error: (message: string, fields?: LogFields) => write('error', message, fields),
};

function write(level: Level, message: string, fields: LogFields = {}) {
  if (order[level] < order[config.logLevel]) return;
  const line = JSON.stringify({ level, message, timestamp: new Date().toISOString(), ...fields });
  (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`);
}
