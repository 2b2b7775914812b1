import * as routes from '../../lib/http/routes';
import { updateProfile } from '../../lib/messaging/users';
import { httpHandler } from '../commons/http-handler';

export const handler = httpHandler(routes.updateProfile)(async ({ caller, body }, { domain }) => ({
  status: 200,
  body: await updateProfile(domain, caller, body),
}));
