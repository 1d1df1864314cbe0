import { AppError, echo } from '../shared/errors.js';
import type { EventEnvelope } from '../events/stripe-event-envelope.js';
import type { PaypalWebhookEvent } from './verify-signature.js';
import { readPaypalResource } from './objects/paypal-objects.js';

/**
 * The fields of a verified PayPal event the inbox needs, checked before anything is stored.
 *
 * The id must be PayPal's `WH-…` and the type PayPal's upper-case form: Stripe's intake takes only
 * `evt_…` ids and lower-case types, so the two gateways' events can never share an inbox key (id,
 * account scope) nor a handler, whoever signed them. The id's charset also keeps it usable as a
 * BullMQ jobId (no ':').
 */
const ID = /^WH-[A-Za-z0-9-]{1,250}$/;
const TYPE = /^[A-Z0-9_.]{1,255}$/;

const invalid = (what: string) =>
  new AppError(400, 'payload_invalid', `The body is signed by PayPal but ${what}. Send the event exactly as PayPal delivers it.`);

/** The resource's own id, for finding events by object (a dispute's is `dispute_id`). */
function objectIdOf(resource: unknown): string | null {
  if (!resource || typeof resource !== 'object') return null;
  const { id, dispute_id: disputeId } = resource as { id?: unknown; dispute_id?: unknown };
  const value = typeof id === 'string' ? id : typeof disputeId === 'string' ? disputeId : null;
  return value !== null && value.length <= 255 ? value : null;
}

/**
 * The capture a PayPal event is about: every capture, refund, reversal and dispute event names it,
 * and an approved order once captured. It picks the event's queue shard (src/redis/queue-layout.ts),
 * as a Stripe event's PaymentIntent does, so the events of one PayPal payment meet in one shard;
 * null (the event id picks) when the resource does not read or names no capture yet.
 */
export function paypalRoutingKeyOf(event: { id?: unknown; event_type?: unknown; resource?: unknown }): string | null {
  try {
    const key = readPaypalResource(event).captureId;
    return key !== null && key.length <= 255 ? key : null;
  } catch {
    return null;
  }
}

/**
 * `livemode`: the mode of the account's PayPal connection, whose webhook id verified the delivery
 * (PayPal's events do not say it themselves). `created`: the event's `create_time`, in unix seconds.
 */
export function parsePaypalEnvelope(event: PaypalWebhookEvent, livemode: boolean): EventEnvelope {
  if (!ID.test(event.id)) throw invalid(`its id "${echo(event.id)}" is not a PayPal event id (WH-…)`);
  if (!TYPE.test(event.event_type)) throw invalid(`its event_type "${echo(event.event_type)}" is not a PayPal event type (such as PAYMENT.CAPTURE.COMPLETED)`);
  const createTime = typeof event.create_time === 'string' ? Date.parse(event.create_time) : NaN;
  if (!Number.isFinite(createTime)) throw invalid('its create_time is not a date-time');
  const version = typeof event.resource_version === 'string' && event.resource_version.length <= 32 ? event.resource_version : null;
  return {
    id: event.id,
    type: event.event_type,
    created: Math.floor(createTime / 1000),
    livemode,
    apiVersion: version,
    objectId: objectIdOf(event.resource),
    routingKey: paypalRoutingKeyOf(event),
  };
}
