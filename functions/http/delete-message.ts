import * as routes from '../../lib/http/routes';
import { deleteMessage } from '../../lib/messaging/messages';
import { withAttachmentFiles } from '../../lib/messaging/s3-attachment-files';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.deleteMessage)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await deleteMessage(withAttachmentFiles(domain), caller, params.id),
}));
