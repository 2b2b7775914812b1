import { routes } from '../../lib/http/routes';
import { deleteMessage } from '../../lib/messaging/messages';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.deleteMessage)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await deleteMessage(domain, caller, params.id),
}));
