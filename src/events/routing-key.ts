import { routingKeyOf } from './stripe-event-envelope.js';
import { paypalRoutingKeyOf } from '../paypal/paypal-event-envelope.js';

/**
 * The queue-shard key of a stored event of either gateway, as its intake chose it (the relay and
 * replay have rows, not envelopes): a PayPal event (`event_type`) by its capture, a Stripe event
 * by its payment. null when the payload does not parse: the event id picks.
 */
export function routingKeyOfPayload(payload: string): string | null {
  let event: unknown;
  try {
    event = JSON.parse(payload);
  } catch {
    return null;
  }
  if (!event || typeof event !== 'object') return null;
  const fields = event as { data?: unknown; event_type?: unknown };
  return typeof fields.event_type === 'string' ? paypalRoutingKeyOf(fields) : routingKeyOf(fields.data);
}
