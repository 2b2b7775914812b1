/**
 * `npm run emit -- <DetailType> '<detail JSON>'`: what the order service does, through the real
 * EventBridge client, against the local stack. It finds the stack as the other commands do
 * (EVENTBRIDGE_ENDPOINT, else PORT/HOST, else the URL a running `npm start` recorded in
 * .data/local-stack.json, else http://127.0.0.1:3000) and fails with one line when nothing answers.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { failCall } from '../lib/local/command-line';
import { discoverLocalStack } from '../lib/local/local-address';

const usage = `usage: npm run emit -- <DetailType> '<detail JSON>'
  e.g. npm run emit -- OrderCreated '{"orderId":"<uuid>","userId":"<uuid>"}'
  sends to EVENTBRIDGE_ENDPOINT, else the local stack (PORT/HOST, else the running npm start, else http://127.0.0.1:3000)`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(usage);
  process.exit(0);
}
const [detailType, detail] = args;
if (!detailType || !detail || args.length > 2) {
  console.error(usage);
  process.exit(2);
}

// The SDK's advice about future Node versions is not this command's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const found = process.env.EVENTBRIDGE_ENDPOINT
  ? { url: process.env.EVENTBRIDGE_ENDPOINT, source: 'EVENTBRIDGE_ENDPOINT' }
  : discoverLocalStack();
const client = new EventBridgeClient({
  endpoint: found.url,
  region: process.env.AWS_REGION ?? 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 1,
});
try {
  const out = await client.send(
    new PutEventsCommand({
      Entries: [{ Source: process.env.ORDER_EVENT_SOURCE ?? 'order-service', DetailType: detailType, Detail: detail }],
    }),
  );
  console.log(JSON.stringify({ FailedEntryCount: out.FailedEntryCount, Entries: out.Entries }, null, 2));
  process.exit(out.FailedEntryCount ? 1 : 0);
} catch (error) {
  failCall('emit', found, error);
}
