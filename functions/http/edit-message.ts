import * as routes from '../../lib/http/routes';
import { editMessage } from '../../lib/messaging/messages';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.editMessage)(async ({ caller, params, body }, { domain }) => ({
  status: 200,
  body: await editMessage(domain, caller, params.id, body),
}));
