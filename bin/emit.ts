/**
 * `npm run emit -- <DetailType> '<detail JSON>'`: what the order service does, through the real
 * EventBridge client, against the local stack (or EVENTBRIDGE_ENDPOINT).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

const [detailType, detail] = process.argv.slice(2);
if (!detailType || !detail) {
  console.error(`usage: npm run emit -- OrderCreated '{"orderId":"<uuid>","userId":"<uuid>"}'`);
  process.exit(2);
}
const client = new EventBridgeClient({
  endpoint: process.env.EVENTBRIDGE_ENDPOINT ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`,
  region: process.env.AWS_REGION ?? 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const out = await client.send(
  new PutEventsCommand({
    Entries: [{ Source: process.env.ORDER_EVENT_SOURCE ?? 'order-service', DetailType: detailType, Detail: detail }],
  }),
);
console.log(JSON.stringify({ FailedEntryCount: out.FailedEntryCount, Entries: out.Entries }, null, 2));
process.exit(out.FailedEntryCount ? 1 : 0);
