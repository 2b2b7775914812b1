import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.markMessageUnread)(async ({ caller, params }, { messaging }) => ({
  status: 200,
  body: await messaging.markMessageUnread(caller, params.id),
}));
