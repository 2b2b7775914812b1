import { routes } from '../../lib/http/routes';
import { downloadAttachment } from '../../lib/messaging/attachments';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.getAttachment)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await downloadAttachment(domain, caller, params.id),
}));
