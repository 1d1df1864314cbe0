import Stripe from 'stripe';
import { buildEvent, stripeObject, uniqueId, type StripeObjectType } from './stripe-objects.js';

export { uniqueId };

export interface EventOptions {
  type: string;
  /** Which object goes in data.object, e.g. 'charge' for charge.refunded. */
  resource: Exclude<StripeObjectType, 'event'>;
  object?: Record<string, unknown>;
  id?: string;
  created?: number;
  livemode?: boolean;
}

/** A Stripe event carrying our default object of `resource` (test/helpers/stripe-objects.ts) with `object` merged over it. */
export function stripeEvent(options: EventOptions): Stripe.Event {
  const livemode = options.livemode ?? false;
  const dataObject = stripeObject(options.resource, options.object);
  // An object with a mode of its own (refunds and balance transactions have none) is in the event's mode unless a test says otherwise.
  if ('livemode' in dataObject && !(options.object && 'livemode' in options.object)) dataObject.livemode = livemode;
  return buildEvent({
    id: options.id ?? uniqueId('evt'),
    type: options.type,
    created: options.created ?? Math.floor(Date.now() / 1000),
    livemode,
    data: { object: dataObject as unknown as Stripe.Event.Data['object'] },
  }) as unknown as Stripe.Event;
}

export const TEST_WEBHOOK_SECRET = 'whsec_test_billed_0123456789abcdef';

/** Headers of a real Stripe delivery: the body as bytes and its HMAC signature. */
export function signedDelivery(payload: string, secret = TEST_WEBHOOK_SECRET, timestamp?: number) {
  return {
    payload,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }),
    },
  };
}
