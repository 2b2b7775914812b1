import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.sendMessage)(async ({ caller, params, body }, { messaging }) => {
  const { message, created } = await messaging.sendMessage(caller, params.id, body);
  return { status: created ? 201 : 200, body: message };
});
