import * as routes from '../../lib/http/routes';
import { adminGetConversation } from '../../lib/messaging/conversations';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.adminGetConversation)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await adminGetConversation(domain, caller, params.id),
}));
