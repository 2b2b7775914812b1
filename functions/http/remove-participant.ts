import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.removeParticipant)(async ({ caller, params }, { messaging }) => {
  await messaging.removeParticipant(caller, params.id, params.userId);
  return { status: 204 };
});
