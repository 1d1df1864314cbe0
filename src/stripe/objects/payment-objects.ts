import { z } from 'zod';
import type Stripe from 'stripe';
import { BOUNDARIES, isBefore } from '../api-version.js';
import {
  amount,
  currency,
  expandable,
  id,
  idOf,
  metadata,
  optionalAmount,
  optionalBoolean,
  optionalStatus,
  optionalText,
  readFields,
  status,
  timestamp,
} from './fields.js';

/**
 * Charges, PaymentIntents, refunds, disputes and Checkout Sessions as the handlers read them: one
 * internal shape whatever API version the event was rendered in. Each reader checks the few
 * fields it needs (an `invalid_object` rejection naming the field otherwise), applies the
 * version's rules (api-version.ts BOUNDARIES) and the documented fallbacks for fields older
 * versions lack. Cheap on the hot path: no copy of the object, a handful of fields checked.
 */

export interface RefundView {
  id: string;
  /** The PaymentIntent, or the charge for a charge made without one. */
  paymentId: string | null;
  chargeId: string | null;
  currency: string;
  amount: number;
  status: string;
  reason: string | null;
  failureReason: string | null;
  created: number;
}

export interface ChargeView {
  id: string;
  /** The payment the charge belongs to: its PaymentIntent, or the charge itself when made without one. */
  paymentId: string;
  invoiceId: string | null;
  currency: string;
  amount: number;
  /** Money actually taken: 0 until captured. */
  amountCaptured: number;
  /** Money given back by refunds: never an authorization released uncaptured. */
  amountRefunded: number;
  /**
   * Authorized but released uncaptured, as versions before 2025-03-31 report it (in amount_refunded,
   * and as a Refund object of its own); 0 since. Tells that Refund object from money given back.
   */
  amountReleased: number;
  succeeded: boolean;
  balanceTransactionId: string | null;
  created: number;
  /** Refund objects the charge itself carries (versions before 2022-11-15 expand `charge.refunds`): facts like refund events'. */
  refunds: RefundView[];
}

export interface PaymentIntentView {
  id: string;
  invoiceId: string | null;
  currency: string;
  amount: number;
  amountReceived: number;
  status: string;
  /** `latest_charge`, or before 2022-11-15 the newest of `charges.data`. */
  latestChargeId: string | null;
  lastError: { code: string | null; declineCode: string | null; message: string | null; chargeId: string | null } | null;
}

export interface DisputeView {
  id: string;
  paymentId: string | null;
  chargeId: string | null;
  currency: string;
  amount: number;
  status: string;
  reason: string | null;
  created: number;
}

export interface CheckoutSessionView {
  id: string;
  paymentIntentId: string | null;
  invoiceId: string | null;
}

const refundSchema = z.object({
  id,
  amount,
  currency,
  // Refunds have always had a status at the versions read here; a missing one is read as pending (counted, not final).
  status: optionalStatus,
  charge: expandable,
  payment_intent: expandable,
  reason: optionalText,
  failure_reason: optionalText,
  created: timestamp,
});

function toRefund(refund: z.output<typeof refundSchema>, owner?: { paymentId: string; chargeId: string }): RefundView {
  const chargeId = idOf(refund.charge) ?? owner?.chargeId ?? null;
  return {
    id: refund.id,
    paymentId: idOf(refund.payment_intent) ?? owner?.paymentId ?? chargeId,
    chargeId,
    currency: refund.currency.toLowerCase(),
    amount: refund.amount,
    status: refund.status ?? 'pending',
    reason: refund.reason?.slice(0, 64) ?? null,
    failureReason: refund.failure_reason?.slice(0, 255) ?? null,
    created: refund.created,
  };
}

/** refund.* and, before 2024-10-28, charge.refund.updated: both carry a refund object. */
export const readRefund = (event: Stripe.Event): RefundView => toRefund(readFields(event, 'refund', refundSchema));

const chargeSchema = z.object({
  id,
  amount,
  // Absent from charges of older versions: see the fallback below.
  amount_captured: optionalAmount,
  amount_refunded: amount,
  captured: optionalBoolean,
  currency,
  // Charges of the oldest API versions have no status, only `paid`: one of the two must be there.
  status: optionalStatus,
  paid: optionalBoolean,
  created: timestamp,
  payment_intent: expandable,
  balance_transaction: expandable,
  metadata,
  // Read (and checked) only for versions that expand it.
  refunds: z.unknown().optional(),
}).superRefine((charge, ctx) => {
  if (charge.status == null && typeof charge.paid !== 'boolean') {
    ctx.addIssue({ code: 'custom', path: ['status'], message: 'expected a status (a string), or `paid` (true or false) on charges older than status' });
  }
});

const refundListSchema = z.object({ data: z.array(z.unknown()) }).nullish();

export function readCharge(event: Stripe.Event): ChargeView {
  const charge = readFields(event, 'charge', chargeSchema);
  const version = event.api_version;
  const captured = charge.captured === true;
  // amount_captured came after some versions: a captured charge of those took its whole amount.
  const amountCaptured = captured ? (charge.amount_captured ?? charge.amount) : 0;
  // Before 2025-03-31 Stripe counted the uncaptured part of a charge (a partial capture, an
  // authorization canceled or expired) in amount_refunded: that money was never taken, so it is
  // no refund. Since then amount_refunded counts refunds only.
  const released = isBefore(version, BOUNDARIES.uncapturedNotRefunded) ? Math.max(0, Math.min(charge.amount_refunded, charge.amount - amountCaptured)) : 0;
  const paymentId = idOf(charge.payment_intent) ?? charge.id;
  let refunds: RefundView[] = [];
  // Before 2022-11-15 the charge carries its refund objects. When part of the charge was released
  // uncaptured, the list may hold that release as a "refund": then only amount_refunded is read.
  if (isBefore(version, BOUNDARIES.chargeRefundsNotExpanded) && released === 0) {
    // `?? null`: an absent field must not fall back to readFields' default, the whole object.
    const list = readFields(event, 'charge.refunds', refundListSchema, charge.refunds ?? null);
    refunds = (list?.data ?? []).map((refund, index) =>
      toRefund(readFields(event, `charge.refunds.data.${index}`, refundSchema, refund), { paymentId, chargeId: charge.id }),
    );
  }
  return {
    id: charge.id,
    paymentId,
    invoiceId: charge.metadata,
    currency: charge.currency.toLowerCase(),
    amount: charge.amount,
    amountCaptured,
    amountRefunded: charge.amount_refunded - released,
    amountReleased: released,
    // Without a status (the oldest versions), `paid` said whether the charge succeeded.
    succeeded: charge.status != null ? charge.status === 'succeeded' : charge.paid === true,
    balanceTransactionId: idOf(charge.balance_transaction),
    created: charge.created,
    refunds,
  };
}

const paymentIntentSchema = z.object({
  id,
  amount,
  // Absent on some older versions' intents that received nothing.
  amount_received: optionalAmount,
  currency,
  status,
  metadata,
  latest_charge: expandable,
  charges: z.unknown().optional(),
  last_payment_error: z.unknown().optional(),
});

const chargeListSchema = z.object({ data: z.array(z.object({ id })) }).nullish();
const paymentErrorSchema = z.object({ code: optionalText, decline_code: optionalText, message: optionalText, charge: expandable }).nullish();

export function readPaymentIntent(event: Stripe.Event): PaymentIntentView {
  const intent = readFields(event, 'payment_intent', paymentIntentSchema);
  let latestChargeId = idOf(intent.latest_charge);
  // Before 2022-11-15 a PaymentIntent lists its charges, newest first, instead of naming the latest.
  if (latestChargeId === null && isBefore(event.api_version, BOUNDARIES.chargeRefundsNotExpanded)) {
    latestChargeId = readFields(event, 'payment_intent.charges', chargeListSchema, intent.charges ?? null)?.data[0]?.id ?? null;
  }
  // An intent without the field (never failed) has no error: without `?? null`, readFields would read the intent itself as one.
  const error = readFields(event, 'payment_intent.last_payment_error', paymentErrorSchema, intent.last_payment_error ?? null);
  return {
    id: intent.id,
    invoiceId: intent.metadata,
    currency: intent.currency.toLowerCase(),
    amount: intent.amount,
    amountReceived: intent.amount_received ?? 0,
    status: intent.status,
    latestChargeId,
    lastError: error
      ? { code: error.code?.slice(0, 64) ?? null, declineCode: error.decline_code?.slice(0, 64) ?? null, message: error.message?.slice(0, 1024) ?? null, chargeId: idOf(error.charge) }
      : null,
  };
}

const disputeSchema = z.object({
  id,
  amount,
  currency,
  status,
  charge: expandable,
  payment_intent: expandable,
  reason: optionalText,
  created: timestamp,
});

export function readDispute(event: Stripe.Event): DisputeView {
  const dispute = readFields(event, 'dispute', disputeSchema);
  const chargeId = idOf(dispute.charge);
  return {
    id: dispute.id,
    // Disputes of older versions name no PaymentIntent: the charge's payment is then the charge's own id.
    paymentId: idOf(dispute.payment_intent) ?? chargeId,
    chargeId,
    currency: dispute.currency.toLowerCase(),
    amount: dispute.amount,
    status: dispute.status,
    reason: dispute.reason?.slice(0, 64) ?? null,
    created: dispute.created,
  };
}

const checkoutSessionSchema = z.object({ id, payment_intent: expandable, client_reference_id: optionalText, metadata });

export function readCheckoutSession(event: Stripe.Event): CheckoutSessionView {
  const session = readFields(event, 'checkout_session', checkoutSessionSchema);
  const reference = session.client_reference_id;
  return {
    id: session.id,
    paymentIntentId: idOf(session.payment_intent),
    invoiceId: reference && reference.length <= 255 ? reference : session.metadata,
  };
}
