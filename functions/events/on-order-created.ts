import { eventRules } from '../../lib/events/order-events';
import { eventHandler } from '../commons/event-handler';

export const handler = eventHandler(eventRules.orderCreated, (detail, _event, { orders }) =>
  orders.orderCreated(detail),
);
