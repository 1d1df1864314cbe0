import type Stripe from 'stripe';
import type { EventHandler } from '../events/handler-registry';
import { applyToPayment, idOf } from './apply-to-payment';

/**
 * checkout.session.completed links the session's PaymentIntent to the invoice
 * named by client_reference_id (or metadata.invoice_id). The money itself is
 * counted from the payment_intent and charge events.
 */
export const onCheckoutSessionCompleted: EventHandler = async (context) => {
  const session = context.event.data.object as Stripe.Checkout.Session;
  const paymentId = idOf(session.payment_intent);
  if (!paymentId) return { ignored: 'no_payment_intent' };
  const invoiceId = session.client_reference_id ?? session.metadata?.invoice_id ?? null;
  return applyToPayment(context, paymentId, invoiceId, async () => 'stale');
};
