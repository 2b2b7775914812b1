import type { Context, PostConfirmationTriggerEvent, PreTokenGenerationTriggerEvent } from 'aws-lambda';
import { type CognitoProfile, registerUser } from '../../lib/messaging/users';
import { useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/**
 * Cognito post-confirmation trigger: records the new user with their email and name (the
 * attributes `email` and `name`), so others can add them to conversations before their first
 * API call and digests can reach them. Also the pre-token-generation trigger, which runs at every
 * sign-in and token refresh: a changed email or name reaches the profile within the hour (one
 * statement that changes nothing when nothing changed; the tokens are left as they are). It must never fail a sign-up: Cognito waits at most
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
  return async <E extends PostConfirmationTriggerEvent | PreTokenGenerationTriggerEvent>(
    event: E,
    context?: Context,
  ): Promise<E> => {
    const attributes = event.request.userAttributes;
    const sub = attributes.sub;
    // Cognito also runs the post-confirmation trigger after a forgotten-password reset: only a
    // sign-up is new. Token generation is a signed-in user whose attributes may have changed.
    const source: string = event.triggerSource;
    if (!sub || (source !== 'PostConfirmation_ConfirmSignUp' && !source.startsWith('TokenGeneration_'))) return event;
    // Leave a second of the function's own time (cold starts count against Cognito's 5 s too).
    const remaining = context?.getRemainingTimeInMillis ? context.getRemainingTimeInMillis() - 1_000 : options.budgetMs;
    const budget = Math.max(0, Math.min(options.budgetMs, remaining));
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'out of time'>((resolve) => {
      timer = setTimeout(() => resolve('out of time'), budget);
    });
    // Only an address Cognito verified: an unverified one (a user may set any, and Cognito keeps
    // the verified one as the sign-in address until the new one is confirmed) would make our SES
    // identity mail whoever that user named.
    const email = attributes.email_verified === 'true' ? (attributes.email ?? null) : null;
    const profile = { email, displayName: attributes.name ?? null };
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
