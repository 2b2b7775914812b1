import { frame } from '../../lib/realtime/frames';
import { webSocketRouteList, webSocketRoutes } from '../../lib/realtime/routes';
import { webSocketHandler } from '../commons/ws-handler';

const actions = webSocketRouteList.map((r) => r.routeKey).filter((key) => !key.startsWith('$'));

export const handler = webSocketHandler(webSocketRoutes.default)(async () =>
  frame('error', { code: 'unknown_action', message: `A frame is {"action": …} with one of: ${actions.join(', ')}` }),
);
