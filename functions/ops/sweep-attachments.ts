import { sweepAttachments } from '../../lib/messaging/attachments';
import { withAttachmentFiles } from '../../lib/messaging/s3-attachment-files';
import { useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/**
 * On a schedule (hourly in AWS, every LOCAL_ATTACHMENT_SWEEP_SECONDS locally): deletes the objects
 * and rows of uploads never sent within 24 hours and of deleted messages' attachments. Safe to run
 * twice at once and to rerun after a crash: a row goes only after its object is gone.
 */
export const handler = async (): Promise<{ deleted: number }> => {
  const { domain } = await useRuntime();
  const result = await sweepAttachments(withAttachmentFiles(domain));
  logger.info('attachments swept', result);
  return result;
};
