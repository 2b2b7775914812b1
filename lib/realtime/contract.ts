import type { FrameType } from './frames';
import { LOCAL_WEBSOCKET_PATH, webSocketLimits, webSocketRouteList } from './routes';

/** Every frame type, who receives it and what its data is: the docs page and the README read it. */
export const frameTable: Record<FrameType, { to: string; data: string }> = {
  'conversation.created': {
    to: 'every participant, the creator included; also when an order event creates it',
    data: 'a Conversation, as `GET /v1/messages/conversations/{id}` answers it',
  },
  'message.created': {
    to: "every participant, the sender's other devices included; system messages too",
    data: 'a Message',
  },
  'message.updated': {
    to: 'every participant, when it is edited or its reactions change',
    data: 'a Message, as that participant sees it (`reactions[].me` is theirs)',
  },
  'message.deleted': {
    to: 'every participant',
    data: 'the tombstone: a Message with `content` null and `deletedAt` set',
  },
  'conversation.read': {
    to: 'the other participants (a read receipt)',
    data: '`{ conversationId, userId, lastReadAt, lastReadMessageId }`',
  },
  'participant.added': {
    to: "the participants, the new one included; also when an order event assigns the order's provider",
    data: '`{ conversationId, userId, role }`',
  },
  'participant.removed': {
    to: 'the participants, the removed one included, who then hears nothing more; also for a provider an order event replaces',
    data: '`{ conversationId, userId }`',
  },
  'conversation.updated': {
    to: "the participants, when it is closed or reopened, by an admin or by the order's status",
    data: '`{ id, status, updatedAt }`',
  },
  typing: {
    to: 'the other participants, at most once per user and conversation per 2 s; never stored',
    data: '`{ conversationId, userId }`',
  },
  pong: { to: 'the device that sent `{"action":"ping"}`', data: '`{}`' },
  error: { to: 'the device whose frame was bad or refused', data: '`{ code, message }`' },
};

const frameTypes = Object.keys(frameTable) as FrameType[];

/**
 * The WebSocket contract as Markdown, from the route table and the frame table: the docs page
 * (the OpenAPI document's description) shows it, and a test keeps the README's copy equal to it.
 */
export function webSocketContractMarkdown(): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    `Connect to \`wss://…/{stage}?token=<access token>\` (the stack output \`WebSocketUrl\`; locally \`ws://127.0.0.1:$PORT${LOCAL_WEBSOCKET_PATH}?token=…\`). ` +
      'A missing, expired or invalid token is refused before the socket opens (401). ' +
      `Frames are JSON, at most ${webSocketLimits.frameBytes / 1024} KB; a connection closes after ${webSocketLimits.idleSeconds / 60} minutes idle and after ${webSocketLimits.maxSeconds / 3600} hours.`,
    '',
    'Client to server (routed on `action`):',
    '',
    row(['route', 'what']),
    row(['---', '---']),
    ...webSocketRouteList.map((r) => row([`\`${r.routeKey}\``, r.summary.replaceAll('|', '\\|')])),
    '',
    'Server to client, one `{ "type": …, "data": … }` per frame; nobody hears of a conversation they are not in:',
    '',
    row(['type', 'to', 'data']),
    row(['---', '---', '---']),
    ...frameTypes.map((type) => row([`\`${type}\``, frameTable[type].to, frameTable[type].data])),
  ].join('\n');
}
