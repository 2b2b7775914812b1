import * as routes from '../../lib/http/routes';
import { addParticipant } from '../../lib/messaging/participants';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.addParticipant)(async ({ caller, params, body }, { domain }) => {
  const { participant, added } = await addParticipant(domain, caller, params.id, body.userId);
  return { status: added ? 201 : 200, body: participant };
});
