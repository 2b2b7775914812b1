import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.unreadTotal)(async ({ caller }, { messaging }) => ({
  status: 200,
  body: await messaging.getUnreadTotal(caller),
}));
