import { connect } from '../../lib/messaging/connections';
import { webSocketRoutes } from '../../lib/realtime/routes';
import { webSocketHandler } from '../commons/ws-handler';

export const handler = webSocketHandler(webSocketRoutes.connect)(async ({ connectionId, caller }, { domain }) => {
  await connect(domain, connectionId, caller.userId);
  return undefined;
});
