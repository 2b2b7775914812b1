import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.adminListConversations)(async ({ caller, query }, { messaging }) => {
  const { limit, offset, cursor, ...filters } = query;
  return { status: 200, body: await messaging.adminListConversations(caller, filters, { limit, offset, cursor }) };
});
