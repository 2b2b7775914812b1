import * as routes from '../../lib/http/routes';
import { adminSetConversationStatus } from '../../lib/messaging/conversations';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.adminSetConversationStatus)(async ({ caller, params, body }, { domain }) => ({
  status: 200,
  body: await adminSetConversationStatus(domain, caller, params.id, body.status),
}));
