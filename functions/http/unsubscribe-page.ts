import * as routes from '../../lib/http/routes';
import { unsubscribePage } from '../../lib/notifications/unsubscribe';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.unsubscribePage)(async ({ query }) => ({
  status: 200,
  html: unsubscribePage(query.token),
}));
