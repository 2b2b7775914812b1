import { webSocketRoutes } from '../../lib/realtime/routes';
import { webSocketHandler } from '../commons/ws-handler';

export const handler = webSocketHandler(webSocketRoutes.connect)(async ({ connectionId, caller }, { messaging }) => {
  await messaging.connect(connectionId, caller.userId);
  return undefined;
});
