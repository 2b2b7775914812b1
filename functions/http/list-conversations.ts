import * as routes from '../../lib/http/routes';
import { listConversations } from '../../lib/messaging/conversations';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.listConversations)(async ({ caller, query }, { domain }) => {
  const { limit, offset, cursor, ...filters } = query;
  return { status: 200, body: await listConversations(domain, caller, filters, { limit, offset, cursor }) };
});
