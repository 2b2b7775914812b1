import * as routes from '../../lib/http/routes';
import { listMessages } from '../../lib/messaging/messages';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.listMessages)(async ({ caller, params, query }, { domain }) => ({
  status: 200,
  body: await listMessages(domain, caller, params.id, query),
}));
