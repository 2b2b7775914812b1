import * as routes from '../../lib/http/routes';
import { removeReaction } from '../../lib/messaging/messages';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.removeReaction)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: await removeReaction(domain, caller, params.id, params.emoji),
}));
