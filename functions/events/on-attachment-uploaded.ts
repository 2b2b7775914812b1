import type { Context, S3Event } from 'aws-lambda';
import { type CheckOutcome, checkUploadedAttachment } from '../../lib/messaging/attachments';
import { withAttachmentFiles } from '../../lib/messaging/s3-attachment-files';
import { useRuntime } from '../../lib/runtime';
import { logger } from '../commons/logger';

/**
 * The bucket's `ObjectCreated` notification (S3 invokes it asynchronously, locally too): each new
 * object is checked against what its upload declared, and deleted when it is not that. A failure
 * throws, so Lambda retries and then hands the event to the on-failure destination; a record for
 * a key that is not an attachment's is logged and skipped.
 */
export const handler = async (event: S3Event, context?: Context): Promise<CheckOutcome[]> => {
  const { domain } = await useRuntime();
  const outcomes: CheckOutcome[] = [];
  for (const record of event.Records ?? []) {
    const outcome = await checkUploadedAttachment(withAttachmentFiles(domain), record.s3.object.key);
    logger.info('attachment checked', { ...outcome, requestId: context?.awsRequestId });
    outcomes.push(outcome);
  }
  return outcomes;
};
