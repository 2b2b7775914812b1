import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.markMessageRead)(async ({ caller, params }, { messaging }) => ({
  status: 200,
  body: await messaging.markMessageRead(caller, params.id),
}));
