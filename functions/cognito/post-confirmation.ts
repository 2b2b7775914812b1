import type { PostConfirmationTriggerEvent } from 'aws-lambda';
import { logger } from '../commons/logger';
import { useRuntime } from '../commons/runtime';

/**
 * Cognito post-confirmation trigger: records the new user, so others can add them to
 * conversations before their first API call. Failing here would leave the user confirmed but
 * told that sign-up failed, so a failure is logged and sign-up goes on: the API records every
 * caller on first sight anyway.
 */
export const handler = async (event: PostConfirmationTriggerEvent): Promise<PostConfirmationTriggerEvent> => {
  const sub = event.request.userAttributes.sub;
  try {
    const { messaging } = await useRuntime();
    if (sub) await messaging.recordUser(sub, 'user');
  } catch (error) {
    logger.error('could not record confirmed user', { userId: sub, errorName: (error as Error).name });
  }
  return event;
};
