import * as routes from '../../lib/http/routes';
import { getUnreadTotal } from '../../lib/messaging/read-marks';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.unreadTotal)(async ({ caller }, { domain }) => ({
  status: 200,
  body: await getUnreadTotal(domain, caller),
}));
