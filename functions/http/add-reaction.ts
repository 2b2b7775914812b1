import * as routes from '../../lib/http/routes';
import { addReaction } from '../../lib/messaging/messages';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.addReaction)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await addReaction(domain, caller, params.id, params.emoji),
}));
