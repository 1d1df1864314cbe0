import type { EntityManager } from 'typeorm';
import Stripe from 'stripe';
import { AppError } from '../shared/errors.js';
import { paymentProcessing, paymentRecorded, type PayableInvoice } from './pay-lock.js';

/** Stripe statuses in which a PaymentIntent can still be paid by the payer's browser. */
export const PAYABLE = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action']);
/** Money is moving (or authorised and waiting for capture): another payment could charge twice. */
const IN_FLIGHT = new Set(['processing', 'requires_capture']);

export function stripeFailure(error: unknown): unknown {
  if (error instanceof Stripe.errors.StripeAuthenticationError) {
    return new AppError(409, 'invalid_api_key', 'Stripe rejected the connected key (revoked or rolled): reconnect Stripe in Settings > Payment Gateways.');
  }
  if (error instanceof Stripe.errors.StripeConnectionError) {
    return new AppError(502, 'stripe_unreachable', 'Stripe could not be reached; no payment was created. Try again in a minute.');
  }
  if (error instanceof Stripe.errors.StripeError) {
    return new AppError(502, 'stripe_error', `Stripe refused the payment: ${error.message}`);
  }
  return error;
}

/**
 * Asks Stripe where each open PaymentIntent of the invoice (invoice_payment_intents) stands, under
 * the invoice's pay lock. `keep` says which payable ones may stay payable; every other payable one
 * is canceled (superseded: nobody may pay it any more). Refuses (409 payment_processing) while one
 * is processing, authorised, or succeeded with its events not applied yet: the amount due does not
 * count it. Answers the PaymentIntents kept. `stripe` is asked for only when there is one to ask about.
 */
export async function settleStripeIntents(
  tx: EntityManager,
  invoice: PayableInvoice,
  stripe: () => Promise<Stripe>,
  keep: (intent: Stripe.PaymentIntent) => boolean,
): Promise<Stripe.PaymentIntent[]> {
  const open = (await tx.query(
    `SELECT id FROM invoice_payment_intents WHERE invoice_id = ? AND status NOT IN ('canceled', 'succeeded') ORDER BY created_at DESC, id`,
    [invoice.id],
  )) as { id: string }[];
  if (open.length === 0) return [];
  const setStatus = (id: string, status: string) => tx.query('UPDATE invoice_payment_intents SET status = ? WHERE id = ?', [status, id]);
  const kept: Stripe.PaymentIntent[] = [];
  try {
    const client = await stripe();
    for (const row of open) {
      let intent: Stripe.PaymentIntent = await client.paymentIntents.retrieve(row.id);
      if (PAYABLE.has(intent.status) && keep(intent)) {
        kept.push(intent);
      } else if (PAYABLE.has(intent.status)) {
        intent = await cancelOrRecheck(client, intent);
      }
      if (IN_FLIGHT.has(intent.status)) {
        await setStatus(row.id, intent.status);
        throw paymentProcessing(invoice.number);
      }
      // Succeeded, but its events not applied yet: the amount due above does not count it.
      if (intent.status === 'succeeded' && !(await paymentRecorded(tx, intent.id))) throw paymentProcessing(invoice.number);
      await setStatus(row.id, intent.status);
    }
  } catch (error) {
    throw stripeFailure(error);
  }
  return kept;
}

/** Cancels a superseded PaymentIntent; if Stripe says it moved on meanwhile (the payer just paid), answers where it is now. */
async function cancelOrRecheck(stripe: Stripe, intent: Stripe.PaymentIntent): Promise<Stripe.PaymentIntent> {
  try {
    return await stripe.paymentIntents.cancel(intent.id);
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) throw error;
    const now = await stripe.paymentIntents.retrieve(intent.id);
    if (PAYABLE.has(now.status)) throw error;
    return now;
  }
}
