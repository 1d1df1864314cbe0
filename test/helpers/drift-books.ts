import type Stripe from 'stripe';
import { buildCharge, buildDispute, buildEvent, buildPaymentIntent, buildPayout, buildRefund, uniqueId } from './stripe-objects.js';

/**
 * Stripe's side of a drift test: objects as Stripe lists them now (put them in the fake's
 * `lists`), and the events Stripe sent about them on the way (deliver some, put all in the
 * fake's `events` for the catch-up). Every object carries its own `created`; ids are fresh.
 */
type Listed = { id: string; object: string; created: number; [key: string]: unknown };

export const asListed = (object: object) => object as unknown as Listed;

export function intent(o: { amount: number; received?: number; status: string; invoiceId?: string | null; created: number; charge?: string | null; id?: string }) {
  return asListed(
    buildPaymentIntent({
      id: o.id ?? uniqueId('pi'),
      amount: o.amount,
      amount_received: o.received ?? (o.status === 'succeeded' ? o.amount : 0),
      status: o.status as Stripe.PaymentIntent.Status,
      metadata: o.invoiceId ? { invoice_id: o.invoiceId } : {},
      latest_charge: o.charge ?? null,
      created: o.created,
    }),
  );
}

export function charge(o: { amount: number; intent: string | null; created: number; captured?: number; refunded?: number; id?: string; invoiceId?: string }) {
  const captured = o.captured ?? o.amount;
  const refunded = o.refunded ?? 0;
  return asListed(
    buildCharge({
      id: o.id ?? uniqueId('ch'),
      amount: o.amount,
      amount_captured: captured,
      captured: captured > 0,
      amount_refunded: refunded,
      refunded: refunded >= o.amount,
      payment_intent: o.intent,
      balance_transaction: uniqueId('txn'),
      metadata: o.invoiceId ? { invoice_id: o.invoiceId } : {},
      created: o.created,
    }),
  );
}

export function refund(o: { charge: Listed; amount: number; status?: string; created: number; id?: string }) {
  return asListed(
    buildRefund({
      id: o.id ?? uniqueId('re'),
      amount: o.amount,
      status: o.status ?? 'succeeded',
      charge: o.charge.id,
      payment_intent: (o.charge.payment_intent as string | null) ?? null,
      created: o.created,
    }),
  );
}

export function dispute(o: { charge: Listed; amount: number; status: string; created: number; id?: string }) {
  return asListed(
    buildDispute({
      id: o.id ?? uniqueId('du'),
      amount: o.amount,
      status: o.status as Stripe.Dispute.Status,
      charge: o.charge.id,
      payment_intent: (o.charge.payment_intent as string | null) ?? null,
      created: o.created,
    }),
  );
}

export function payout(o: { amount: number; status: string; created: number; id?: string }) {
  return asListed(buildPayout({ id: o.id ?? uniqueId('po'), amount: o.amount, status: o.status, created: o.created, arrival_date: o.created + 2 * 86_400, balance_transaction: uniqueId('txn') }));
}

/** The event Stripe sends about `object` as it is at that moment (a copy: later changes to the object are not in it). */
export function eventAbout(type: string, object: Listed, created = object.created): Stripe.Event {
  return buildEvent({ id: uniqueId('evt'), type, created, data: { object: structuredClone(object) as unknown as Stripe.Event.Data['object'] } }) as unknown as Stripe.Event;
}

/** The same object as it is later at Stripe. */
export const later = (object: Listed, changes: Record<string, unknown>): Listed => ({ ...structuredClone(object), ...changes });
