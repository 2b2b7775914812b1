import * as routes from '../../lib/http/routes';
import { markMessageRead } from '../../lib/messaging/read-marks';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.markMessageRead)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await markMessageRead(domain, caller, params.id),
}));
