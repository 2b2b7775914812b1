import * as routes from '../../lib/http/routes';
import { createConversation } from '../../lib/messaging/conversations';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.createConversation)(async ({ caller, body }, { domain }) => ({
  status: 201,
  body: await createConversation(domain, caller, body),
}));
