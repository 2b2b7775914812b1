import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.adminSetConversationStatus)(
  async ({ caller, params, body }, { messaging }) => ({
    status: 200,
    body: await messaging.adminSetConversationStatus(caller, params.id, body.status),
  }),
);
