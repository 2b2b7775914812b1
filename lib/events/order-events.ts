import { z } from 'zod';

/**
 * The order service's events we consume: their `detail` contracts, and the only list of event
 * rules. The CDK stack makes one EventBridge rule and one Lambda per entry, the local event bus
 * routes with it, and the README's contract table and the JSON Schemas come from it.
 * A rule's handler is `functions/events/<id>.ts`, exporting `handler`.
 */
const id = (what: string) => z.guid({ message: `${what} must be a UUID` });

export const orderCreatedDetail = z
  .object({
    orderId: id('orderId'),
    userId: id('userId'),
    serviceProviderId: id('serviceProviderId').nullish(),
    title: z.string().max(255).nullish(),
    status: z.string().min(1).max(50).nullish(),
  })
  .meta({ id: 'OrderCreated', description: 'An order was placed: creates its conversation with the owner (and the provider if assigned).' });

export const orderServiceProviderAssignedDetail = z
  .object({ orderId: id('orderId'), serviceProviderId: id('serviceProviderId') })
  .meta({ id: 'OrderServiceProviderAssigned', description: "A provider was assigned: joins the order's conversation, replacing an earlier provider." });

export const orderStatusChangedDetail = z
  .object({
    orderId: id('orderId'),
    status: z.string().min(1).max(50),
    previousStatus: z.string().max(50).nullish(),
    version: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
    changedAt: z.iso.datetime({ offset: true }).nullish(),
  })
  .meta({ id: 'OrderStatusChanged', description: 'Posts a system message; applied only if newer (version, else changedAt, else the event time).' });

export const orderDeletedDetail = z
  .object({ orderId: id('orderId') })
  .meta({ id: 'OrderDeleted', description: "The order is gone: its conversation and messages are deleted." });

export interface EventRule {
  id: string;
  detailType: string;
  detail: z.ZodType;
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

/** One JSON Schema per event detail, generated from the zod schemas above. */
export function eventJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(
    eventRuleList.map((rule) => [rule.detailType, z.toJSONSchema(rule.detail, { target: 'draft-2020-12' })]),
  );
}
