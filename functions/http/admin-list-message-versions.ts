import { routes } from '../../lib/http/routes';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.adminListMessageVersions)(async ({ caller, params }, { messaging }) => ({
  status: 200,
  body: { items: await messaging.adminListMessageVersions(caller, params.id) },
}));
