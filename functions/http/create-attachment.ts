import * as routes from '../../lib/http/routes';
import { createAttachment } from '../../lib/messaging/attachments';
import { withAttachmentFiles } from '../../lib/messaging/s3-attachment-files';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.createAttachment)(async ({ caller, params, body }, { domain }) => ({
  status: 201,
  body: await createAttachment(withAttachmentFiles(domain), caller, params.id, body),
}));
