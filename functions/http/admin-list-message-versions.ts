import * as routes from '../../lib/http/routes';
import { listMessageVersions } from '../../lib/messaging/messages';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.adminListMessageVersions)(async ({ caller, params }, { domain }) => ({
  status: 200,
  body: { items: await listMessageVersions(domain, caller, params.id) },
}));
