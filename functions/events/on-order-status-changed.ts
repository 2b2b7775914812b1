import { eventRules } from '../../lib/events/order-events';
import { eventHandler } from '../commons/event-handler';

export const handler = eventHandler(eventRules.statusChanged, (detail, event, { orders }) =>
  orders.statusChanged(detail, event.time),
);
