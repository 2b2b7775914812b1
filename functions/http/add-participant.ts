import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.addParticipant)(async ({ caller, params, body }, { messaging }) => {
  const { participant, added } = await messaging.addParticipant(caller, params.id, body.userId);
  return { status: added ? 201 : 200, body: participant };
});
