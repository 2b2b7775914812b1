import * as routes from '../../lib/http/routes';
import { getConversation } from '../../lib/messaging/conversations';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.getConversation)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await getConversation(domain, caller, params.id),
}));
