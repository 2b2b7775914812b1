import { databaseConfigFromEnv, type DatabaseConfig } from '../../lib/db/create-database';
import type { MessagingLimits } from '../../lib/messaging/limits';
import { defaultClosingStatuses } from '../../lib/messaging/order-projection';

/** Everything the functions read from the environment, read once when the module loads. */
export interface FunctionConfig {
  database: DatabaseConfig;
  limits: MessagingLimits;
  /** Bodies larger than this answer 413 before any parsing. */
  maxBodyBytes: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** The EventBridge source of order events. */
  orderEventSource: string;
  /** Order statuses that close the order's conversation. */
  closingStatuses: string[];
}

export function readConfig(env: NodeJS.ProcessEnv): FunctionConfig {
  return {
    database: databaseConfigFromEnv(env),
    limits: {
      sendLimit: positiveInt(env, 'SEND_RATE_LIMIT', 20),
      sendWindowSeconds: positiveInt(env, 'SEND_RATE_WINDOW_SECONDS', 10),
      createConversationLimit: positiveInt(env, 'CREATE_CONVERSATION_RATE_LIMIT', 20),
      createConversationWindowSeconds: positiveInt(env, 'CREATE_CONVERSATION_RATE_WINDOW_SECONDS', 60),
      addParticipantLimit: positiveInt(env, 'ADD_PARTICIPANT_RATE_LIMIT', 60),
      addParticipantWindowSeconds: positiveInt(env, 'ADD_PARTICIPANT_RATE_WINDOW_SECONDS', 60),
    },
    maxBodyBytes: positiveInt(env, 'MAX_BODY_BYTES', 256 * 1024),
    logLevel: (env.LOG_LEVEL as FunctionConfig['logLevel']) ?? 'info',
    orderEventSource: env.ORDER_EVENT_SOURCE ?? 'order-service',
    closingStatuses: env.ORDER_CLOSING_STATUSES
      ? env.ORDER_CLOSING_STATUSES.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
      : defaultClosingStatuses,
  };
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}

export const config = readConfig(process.env);
