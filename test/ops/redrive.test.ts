import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventRule } from '../../lib/events/order-events';
import {
  type FailureQueue,
  type OrderEventEnvelope,
  type QueueMessage,
  redrive,
  routeFailure,
} from '../../lib/ops/redrive';
import { TestStack } from '../support/http-stack';

/**
 * npm run redrive's routing and replay, on the documented shapes of what lands in the two queues,
 * through the real handlers on this run's database. Only SQS itself is replaced: by a queue with
 * its visibility semantics (received messages are hidden until deleted or released).
 */
let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start();
});
afterAll(async () => stack?.close());

/** The real handler module of a rule, as the deployed Lambda runs it. */
const replayThroughHandler = async (rule: EventRule, event: OrderEventEnvelope) => {
  const module = (await import(`../../functions/events/${rule.id}.ts`)) as {
    handler: (event: OrderEventEnvelope) => Promise<unknown>;
  };
  await module.handler(event);
};

class Queue implements FailureQueue {
  readonly visible: QueueMessage[] = [];
  readonly inFlight: QueueMessage[] = [];
  constructor(messages: QueueMessage[]) {
    this.visible.push(...messages);
  }
  async receive(max: number) {
    const batch = this.visible.splice(0, max);
    this.inFlight.push(...batch);
    return batch;
  }
  async remove(message: QueueMessage) {
    this.inFlight.splice(this.inFlight.indexOf(message), 1);
  }
  async release(message: QueueMessage) {
    this.inFlight.splice(this.inFlight.indexOf(message), 1);
    this.visible.push(message);
  }
}

function orderEvent(detailType: string, detail: object): OrderEventEnvelope {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': detailType,
    source: 'order-service',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [],
    detail,
  };
}

/** What EventBridge puts in a rule target's dead-letter queue: the event, with why in the attributes. */
function deadLetter(event: OrderEventEnvelope): QueueMessage {
  return {
    id: randomUUID(),
    body: JSON.stringify(event),
    attributes: {
      RULE_ARN: 'arn:aws:events:eu-west-1:123456789012:rule/orders-dev/on-order-created-rule',
      TARGET_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:messaging-dev-on-order-created',
      ERROR_CODE: 'SDK_CLIENT_ERROR',
      ERROR_MESSAGE: 'Unable to invoke Lambda function',
      EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
      RETRY_ATTEMPTS: '185',
    },
  };
}

/** What Lambda sends to the on-failure destination after the last retry: an invocation record. */
function invocationRecord(event: OrderEventEnvelope, ruleId: string): QueueMessage {
  return {
    id: randomUUID(),
    body: JSON.stringify({
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: randomUUID(),
        functionArn: `arn:aws:lambda:eu-west-1:123456789012:function:messaging-dev-${ruleId}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
      },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'error', errorMessage: 'relation "orders" does not exist' },
    }),
    attributes: {},
  };
}

async function orderConversation(orderId: string) {
  const { rows } = await sql<{ status: string; messages: number }>`
    SELECT c.status, (SELECT count(*)::int FROM messages m WHERE m.conversation_id = c.id) AS messages
    FROM conversations c WHERE c.order_id = cast(${orderId} as uuid)`.execute(stack.database.db);
  return rows;
}

describe('npm run redrive', () => {
  it('routes each documented message shape to the handler of its rule', () => {
    const created = orderEvent('OrderCreated', { orderId: randomUUID(), userId: randomUUID() });
    expect(routeFailure('delivery', deadLetter(created))).toMatchObject({
      ok: true,
      rule: { id: 'on-order-created' },
      event: created,
      why: 'SDK_CLIENT_ERROR: Unable to invoke Lambda function',
    });
    const changed = orderEvent('OrderStatusChanged', { orderId: randomUUID(), status: 'scheduled', version: 2 });
    expect(routeFailure('processing', invocationRecord(changed, 'on-order-status-changed'))).toMatchObject({
      ok: true,
      rule: { id: 'on-order-status-changed' },
      event: changed,
      why: 'RetriesExhausted: error: relation "orders" does not exist',
    });
    expect(routeFailure('processing', invocationRecord(changed, 'on-order-deleted'))).toMatchObject({ ok: false });
    expect(
      routeFailure('delivery', { id: 'x', body: '{"detail-type":"OrderShipped","id":"1"}', attributes: {} }),
    ).toEqual({ ok: false, problem: 'no rule for detail-type OrderShipped' });
    expect(routeFailure('processing', { id: 'x', body: 'not json', attributes: {} })).toEqual({
      ok: false,
      problem: 'the body is not JSON',
    });
  });

  it('changes nothing in a dry run, and leaves every message in the queue', async () => {
    const orderId = randomUUID();
    const queue = new Queue([deadLetter(orderEvent('OrderCreated', { orderId, userId: randomUUID() }))]);
    const report = await redrive({ kind: 'delivery', queue, replay: replayThroughHandler, dryRun: true });
    expect(report.wouldReplay).toHaveLength(1);
    expect(report.replayed).toEqual([]);
    expect(queue.visible).toHaveLength(1);
    expect(queue.inFlight).toEqual([]);
    expect(await orderConversation(orderId)).toEqual([]);
  });

  it('replays both queues through the real handlers, deletes what succeeded and keeps what fails again', async () => {
    const orderId = randomUUID();
    const userId = randomUUID();
    // Arrived before the schema existed (the first-deploy race): the created event was never
    // delivered, the status change ran and failed. Replayed in any order, both apply.
    const delivery = new Queue([deadLetter(orderEvent('OrderCreated', { orderId, userId, title: 'Fix the sink' }))]);
    const malformed = invocationRecord(
      orderEvent('OrderStatusChanged', { orderId: 'not-a-uuid', status: 'x' }),
      'on-order-status-changed',
    );
    const unroutable: QueueMessage = { id: randomUUID(), body: '{"hello":"world"}', attributes: {} };
    const processing = new Queue([
      invocationRecord(
        orderEvent('OrderStatusChanged', { orderId, status: 'scheduled', version: 2 }),
        'on-order-status-changed',
      ),
      malformed,
      unroutable,
    ]);

    const fromProcessing = await redrive({
      kind: 'processing',
      queue: processing,
      replay: replayThroughHandler,
      dryRun: false,
    });
    const fromDelivery = await redrive({
      kind: 'delivery',
      queue: delivery,
      replay: replayThroughHandler,
      dryRun: false,
    });

    expect(fromDelivery.replayed.map((r) => r.rule)).toEqual(['on-order-created']);
    expect(delivery.visible).toEqual([]);
    expect(fromProcessing.replayed.map((r) => r.rule)).toEqual(['on-order-status-changed']);
    expect(fromProcessing.failed.map((r) => r.messageId)).toEqual([malformed.id]);
    expect(fromProcessing.failed[0]!.error).toMatch(/Malformed event/);
    expect(fromProcessing.unroutable).toEqual([
      { messageId: unroutable.id, problem: 'not a Lambda invocation record' },
    ]);
    expect(processing.visible.map((m) => m.id).sort()).toEqual([malformed.id, unroutable.id].sort());
    expect(processing.inFlight).toEqual([]);
    // The order's conversation exists, with the status message posted.
    expect(await orderConversation(orderId)).toEqual([{ status: 'active', messages: 1 }]);

    // A second run replays nothing new and still keeps the two.
    const again = await redrive({ kind: 'processing', queue: processing, replay: replayThroughHandler, dryRun: false });
    expect(again.replayed).toEqual([]);
    expect(again.failed.length + again.unroutable.length).toBe(2);
    expect(processing.visible).toHaveLength(2);
  });
});
