import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.removeReaction)(async ({ caller, params }, { messaging }) => ({
  status: 200,
  body: await messaging.removeReaction(caller, params.id, params.emoji),
}));
