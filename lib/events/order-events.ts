import * as z from 'zod/mini';
import { uuidOf as id, instant, described as meta, plainText } from '../http/zod-common';

/**
 * The order service's events we consume: their `detail` contracts, and the only list of event
 * rules. The CDK stack makes one EventBridge rule and one Lambda per entry, the local event bus
 * routes with it, and the README's contract table and the JSON Schemas come from it.
 * A rule's handler is `functions/events/<id>.ts`, exporting `handler`.
 */
const described = <T extends z.ZodMiniType>(schema: T, id: string, description: string): T =>
  meta(schema, { id, description });

export const orderCreatedDetail = described(
  z.object({
    orderId: id('orderId'),
    userId: id('userId'),
    serviceProviderId: z.nullish(id('serviceProviderId')),
    title: z.nullish(plainText(255)),
    status: z.nullish(plainText(50).check(z.minLength(1))),
  }),
  'OrderCreated',
  'An order was placed: creates its conversation with the owner (and the provider if assigned).',
);

export const orderServiceProviderAssignedDetail = described(
  z.object({ orderId: id('orderId'), serviceProviderId: id('serviceProviderId') }),
  'OrderServiceProviderAssigned',
  "A provider was assigned: joins the order's conversation, replacing an earlier provider.",
);

export const orderStatusChangedDetail = described(
  z.object({
    orderId: id('orderId'),
    status: plainText(50).check(z.minLength(1)),
    previousStatus: z.nullish(plainText(50)),
    version: z.nullish(z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER))),
    changedAt: z.nullish(instant()),
  }),
  'OrderStatusChanged',
  'Posts a system message; applied only if newer (version, else changedAt, else the event time).',
);

export const orderDeletedDetail = described(
  z.object({ orderId: id('orderId') }),
  'OrderDeleted',
  'The order is gone: its conversation and messages are deleted.',
);

export interface EventRule {
  id: string;
  detailType: string;
  detail: z.ZodMiniType;
}

export const eventRules = {
  orderCreated: { id: 'on-order-created', detailType: 'OrderCreated', detail: orderCreatedDetail },
  serviceProviderAssigned: {
    id: 'on-order-service-provider-assigned',
    detailType: 'OrderServiceProviderAssigned',
    detail: orderServiceProviderAssignedDetail,
  },
  statusChanged: { id: 'on-order-status-changed', detailType: 'OrderStatusChanged', detail: orderStatusChangedDetail },
  orderDeleted: { id: 'on-order-deleted', detailType: 'OrderDeleted', detail: orderDeletedDetail },
} as const satisfies Record<string, EventRule>;

export const eventRuleList: EventRule[] = Object.values(eventRules);

/** One JSON Schema per event detail, generated from the zod schemas above: what a producer may send. */
export function eventJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(
    eventRuleList.map((rule) => [
      rule.detailType,
      z.toJSONSchema(rule.detail, { target: 'draft-2020-12', io: 'input' }),
    ]),
  );
}
