import * as routes from '../../lib/http/routes';
import { removeParticipant } from '../../lib/messaging/participants';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.removeParticipant)(async ({ caller, params }, { domain }) => {
  await removeParticipant(domain, caller, params.id, params.userId);
  return { status: 204 };
});
