/**
 * `npm run redrive -- --stage <dev|prod> [--dry-run] [--queue delivery|processing] [--limit N] [--region R]`
 *
 * Replays the order events waiting in the failure queues (lib/ops/redrive.ts) through the deployed
 * handler of their rule: a synchronous invoke of `messaging-<stage>-<rule id>`, so the replay runs
 * the deployed code against the deployed schema, and a failure is known before the message is
 * deleted. Uses the standard AWS credentials and region (AWS_PROFILE, AWS_REGION, …).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { failureQueueNames, functionName } from '../lib/infra/names';
import { type FailureQueue, type FailureQueueKind, type Replay, redrive } from '../lib/ops/redrive';

const usage = `usage: npm run redrive -- --stage <dev|prod> [--dry-run] [--queue delivery|processing] [--limit N] [--region R]
  replays the order events in messaging-<stage>-event-{delivery,processing}-failures through their handlers;
  --dry-run lists what would be replayed and changes nothing`;

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (args.includes('--help') || args.includes('-h')) {
  console.log(usage);
  process.exit(0);
}
const stage = option('--stage');
const only = option('--queue') as FailureQueueKind | undefined;
const limit = option('--limit') ? Number(option('--limit')) : undefined;
if (!stage || (only && only !== 'delivery' && only !== 'processing') || (limit !== undefined && !(limit > 0))) {
  console.error(usage);
  process.exit(2);
}
const dryRun = args.includes('--dry-run');
const region = option('--region');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const sqs = new SQSClient(region ? { region } : {});
const lambda = new LambdaClient(region ? { region } : {});

/** SQS, at the edge: receive with a visibility timeout that covers the run, delete after success. */
async function sqsQueue(queueName: string): Promise<FailureQueue> {
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
  const handles = new Map<string, string>();
  return {
    async receive(max) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 900,
          MessageAttributeNames: ['All'],
        }),
      );
      return Messages.map((m) => {
        handles.set(m.MessageId!, m.ReceiptHandle!);
        const attributes = Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
        );
        return { id: m.MessageId!, body: m.Body ?? '', attributes };
      });
    },
    async remove(message) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: handles.get(message.id) }));
    },
    async release(message) {
      await sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: handles.get(message.id), VisibilityTimeout: 0 }),
      );
    },
  };
}

/** The deployed handler, invoked synchronously (which has no retries and no on-failure destination). */
const invokeDeployed: Replay = async (rule, event) => {
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName(stage, rule.id),
      InvocationType: 'RequestResponse',
      Payload: new TextEncoder().encode(JSON.stringify(event)),
    }),
  );
  if (out.FunctionError) {
    const payload = out.Payload ? new TextDecoder().decode(out.Payload) : '';
    throw new Error(`${out.FunctionError}: ${payload.slice(0, 500)}`);
  }
};

const names = failureQueueNames(stage);
let stillWaiting = 0;
for (const kind of only ? [only] : (['delivery', 'processing'] as const)) {
  const report = await redrive({ kind, queue: await sqsQueue(names[kind]), replay: invokeDeployed, dryRun, limit });
  console.log(`${names[kind]}${dryRun ? ' (dry run)' : ''}`);
  for (const r of report.wouldReplay) console.log(`  would replay ${r.eventId} → ${r.rule}  (${r.why})`);
  for (const r of report.replayed) console.log(`  replayed ${r.eventId} → ${r.rule}`);
  for (const r of report.failed) console.log(`  FAILED ${r.eventId} → ${r.rule}: ${r.error}`);
  for (const r of report.unroutable) console.log(`  left in the queue ${r.messageId}: ${r.problem}`);
  if (!report.wouldReplay.length && !report.replayed.length && !report.failed.length && !report.unroutable.length)
    console.log('  empty');
  stillWaiting += report.failed.length + report.unroutable.length;
}
sqs.destroy();
lambda.destroy();
process.exit(stillWaiting && !dryRun ? 1 : 0);
