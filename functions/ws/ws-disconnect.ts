import { disconnect } from '../../lib/messaging/connections';
import { webSocketRoutes } from '../../lib/realtime/routes';
import { webSocketHandler } from '../commons/ws-handler';

export const handler = webSocketHandler(webSocketRoutes.disconnect)(async ({ connectionId }, { domain }) => {
  await disconnect(domain, connectionId);
  return undefined;
});
