import * as routes from '../../lib/http/routes';
import { adminListConversations } from '../../lib/messaging/conversations';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.adminListConversations)(async ({ caller, query }, { domain }) => {
  const { limit, offset, cursor, ...filters } = query;
  return { status: 200, body: await adminListConversations(domain, caller, filters, { limit, offset, cursor }) };
});
