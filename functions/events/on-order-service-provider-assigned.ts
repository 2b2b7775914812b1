import { eventRules } from '../../lib/events/order-events';
import { eventHandler } from '../commons/event-handler';

export const handler = eventHandler(eventRules.serviceProviderAssigned, (detail, event, { orders }) =>
  orders.serviceProviderAssigned(detail, event.time),
);
