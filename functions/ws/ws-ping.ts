import { frame } from '../../lib/realtime/frames';
import { webSocketRoutes } from '../../lib/realtime/routes';
import { webSocketHandler } from '../commons/ws-handler';

export const handler = webSocketHandler(webSocketRoutes.ping)(async () => frame('pong', {}));
