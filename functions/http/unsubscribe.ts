import * as routes from '../../lib/http/routes';
import { unsubscribe } from '../../lib/notifications/unsubscribe';
import { config } from '../../lib/runtime';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.unsubscribe)(async ({ query }, { domain }) => ({
  status: 200,
  body: await unsubscribe(domain, config.notifications, query.token),
}));
