import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.createConversation)(async ({ caller, body }, { messaging }) => ({
  status: 201,
  body: await messaging.createConversation(caller, body),
}));
