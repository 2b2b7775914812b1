import * as routes from '../../lib/http/routes';
import { setConversationNotifications } from '../../lib/messaging/participants';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.setConversationNotifications)(
  async ({ caller, params, body }, { domain }) => ({
    status: 200,
    body: await setConversationNotifications(domain, caller, params.id, body),
  }),
);
