import * as routes from '../../lib/http/routes';
import { markMessageUnread } from '../../lib/messaging/read-marks';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.markMessageUnread)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await markMessageUnread(domain, caller, params.id),
}));
