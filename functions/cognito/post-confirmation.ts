import type { Context, PostConfirmationTriggerEvent } from 'aws-lambda';
import { type CognitoProfile, registerUser } from '../../lib/messaging/users';
import { useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/**
 * Cognito post-confirmation trigger: records the new user with their email and name (the
 * attributes `email` and `name`), so others can add them to conversations before their first
 * API call and digests can reach them. It must never fail a sign-up: Cognito waits at most
 * 5 seconds for it (and retries on timeouts), and a paused dev cluster takes ~15 s to resume. So
 * recording gets a budget; past it, or on any error, the trigger logs and returns, and the API
 * records the user on their first call instead.
 */
export const recordBudgetMs = 3_000;

/** What records a confirmed user (the domain in Lambda; tests hand in a MessagingService over their database). */
interface UserRegistry {
  registerUser(userId: string, profile: CognitoProfile): Promise<void>;
}

export function postConfirmationHandler(options: { messaging: () => Promise<UserRegistry>; budgetMs: number }) {
  return async (event: PostConfirmationTriggerEvent, context?: Context): Promise<PostConfirmationTriggerEvent> => {
    const attributes = event.request.userAttributes;
    const sub = attributes.sub;
    // Cognito also runs this trigger after a forgotten-password reset: only a sign-up is new.
    if (!sub || event.triggerSource !== 'PostConfirmation_ConfirmSignUp') return event;
    // Leave a second of the function's own time (cold starts count against Cognito's 5 s too).
    const remaining = context?.getRemainingTimeInMillis ? context.getRemainingTimeInMillis() - 1_000 : options.budgetMs;
    const budget = Math.max(0, Math.min(options.budgetMs, remaining));
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'out of time'>((resolve) => {
      timer = setTimeout(() => resolve('out of time'), budget);
    });
    const profile = { email: attributes.email ?? null, displayName: attributes.name ?? null };
    const recording = options.messaging().then((messaging) => messaging.registerUser(sub, profile));
    try {
      const outcome = await Promise.race([recording.then(() => 'recorded' as const), outOfTime]);
      if (outcome === 'out of time') {
        // The statement may still complete later; if not, the first API call records the user.
        recording.catch(() => {});
        logger.warn('confirmed user not recorded in time', { userId: sub, budgetMs: budget });
      }
    } catch (error) {
      logger.warn('could not record confirmed user', { userId: sub, errorName: (error as Error).name });
    } finally {
      clearTimeout(timer);
    }
    return event;
  };
}

export const handler = postConfirmationHandler({
  messaging: async () => {
    const { domain } = await useRuntime();
    return { registerUser: (userId: string, profile: CognitoProfile) => registerUser(domain, userId, profile) };
  },
  budgetMs: recordBudgetMs,
});
