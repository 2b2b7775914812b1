import * as routes from '../../lib/http/routes';
import { markConversationRead } from '../../lib/messaging/read-marks';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.markConversationRead)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await markConversationRead(domain, caller, params.id),
}));
