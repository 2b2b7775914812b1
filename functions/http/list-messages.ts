import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.listMessages)(async ({ caller, params, query }, { messaging }) => ({
  status: 200,
  body: await messaging.listMessages(caller, params.id, query),
}));
