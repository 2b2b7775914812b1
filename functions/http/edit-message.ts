import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.editMessage)(async ({ caller, params, body }, { messaging }) => ({
  status: 200,
  body: await messaging.editMessage(caller, params.id, body),
}));
