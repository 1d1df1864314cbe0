import type Stripe from 'stripe';
import { PINNED_API_VERSION } from '../api-version.js';
import { readCharge, readDispute, readPaymentIntent, readRefund, type ChargeView, type DisputeView, type PaymentIntentView, type RefundView } from './payment-objects.js';
import { readPayout, type PayoutView } from './payout-object.js';

/**
 * Objects a Stripe list endpoint returned (the drift check lists them), read by the very readers
 * that read events' objects: one internal shape, one set of version rules. A listed object is
 * rendered in the API version of the client that listed it, stripe-node's own, which is
 * PINNED_API_VERSION; the readers take it as an event of that version. A bad field is an
 * `invalid_object` EventRejectedError naming it, as for an event.
 */
function asEvent(object: unknown, name: string): Stripe.Event {
  const id = object && typeof object === 'object' ? String((object as { id?: unknown }).id) : 'unknown';
  return { id: `listed ${id}`, type: `${name}.listed`, api_version: PINNED_API_VERSION, data: { object } } as unknown as Stripe.Event;
}

export const readListedPaymentIntent = (object: unknown): PaymentIntentView & { created: number } => ({
  ...readPaymentIntent(asEvent(object, 'payment_intent')),
  created: createdOf(object),
});
export const readListedCharge = (object: unknown): ChargeView => readCharge(asEvent(object, 'charge'));
export const readListedRefund = (object: unknown): RefundView => readRefund(asEvent(object, 'refund'));
export const readListedDispute = (object: unknown): DisputeView => readDispute(asEvent(object, 'dispute'));
export const readListedPayout = (object: unknown): PayoutView => readPayout(asEvent(object, 'payout'));

/** `created` of any listed object (PaymentIntentView has none: handlers never needed it); NaN when absent. */
export function createdOf(object: unknown): number {
  const created = object && typeof object === 'object' ? (object as { created?: unknown }).created : undefined;
  return Number.isSafeInteger(created) ? (created as number) : Number.NaN;
}
