import * as routes from '../../lib/http/routes';
import { getProfile } from '../../lib/messaging/users';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.getProfile)(async ({ caller }, { domain }) => ({
  status: 200,
  body: await getProfile(domain, caller),
}));
