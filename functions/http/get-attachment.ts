import * as routes from '../../lib/http/routes';
import { downloadAttachment } from '../../lib/messaging/attachments';
import { withAttachmentFiles } from '../../lib/messaging/s3-attachment-files';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.getAttachment)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await downloadAttachment(withAttachmentFiles(domain), caller, params.id),
}));
