import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.getConversation)(async ({ caller, params }, { messaging }) => ({
  status: 200,
  body: await messaging.getConversation(caller, params.id),
}));
