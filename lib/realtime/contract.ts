import { frameTable, frameTypes } from './frames';
import { LOCAL_WEBSOCKET_PATH, webSocketLimits, webSocketRouteList } from './routes';

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
