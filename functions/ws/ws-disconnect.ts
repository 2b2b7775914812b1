import { webSocketRoutes } from '../../lib/realtime/routes';
import { webSocketHandler } from '../commons/ws-handler';

export const handler = webSocketHandler(webSocketRoutes.disconnect)(async ({ connectionId }, { messaging }) => {
  await messaging.disconnect(connectionId);
  return undefined;
});
