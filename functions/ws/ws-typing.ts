import { signalTyping } from '../../lib/messaging/participants';
import { typingFrame } from '../../lib/realtime/client-frames';
import { webSocketRoutes } from '../../lib/realtime/routes';
import { FrameError, webSocketHandler } from '../commons/ws-handler';

export const handler = webSocketHandler(
  webSocketRoutes.typing,
  typingFrame,
)(async ({ caller, body }, { domain }) => {
  const outcome = await signalTyping(domain, caller, body.conversationId);
  if (outcome === 'not_found') throw new FrameError('not_found', 'No such conversation, or you are not in it');
  if (outcome === 'closed') throw new FrameError('conversation_closed', 'The conversation is closed');
  return undefined;
});
