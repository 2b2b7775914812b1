import type autocannon from 'autocannon';

/**
 * autocannon's options for a send load: each connection is one user sending into a conversation
 * of their own; `content` makes each message's text (called once per request).
 */
export function sendLoadOptions(
  base: string,
  senders: ReadonlyArray<{ token: string; conversation: string }>,
  content: () => string,
): autocannon.Options {
  let next = 0;
  return {
    url: base,
    connections: senders.length,
    setupClient: (client) => {
      const who = senders[next++ % senders.length]!;
      client.setHeaders({ authorization: `Bearer ${who.token}`, 'content-type': 'application/json' });
      client.setRequests([
        {
          method: 'POST',
          path: `/v1/messages/conversations/${who.conversation}/messages`,
          setupRequest: (request) => ({ ...request, body: JSON.stringify({ content: content() }) }),
        },
      ]);
    },
  };
}
