import * as routes from '../../lib/http/routes';
import { sendMessage } from '../../lib/messaging/messages';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.sendMessage)(async ({ caller, params, body }, { domain }) => {
  const { message, created } = await sendMessage(domain, caller, params.id, body);
  return { status: created ? 201 : 200, body: message };
});
