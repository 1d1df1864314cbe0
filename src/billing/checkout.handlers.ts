import type Stripe from 'stripe';
import { idOf, paymentHandler } from './apply-to-payment.js';

/**
 * checkout.session.completed links the session's PaymentIntent to the invoice
 * named by client_reference_id (or metadata.invoice_id). The money itself is
 * counted from the payment_intent and charge events.
 */
export const onCheckoutSessionCompleted = paymentHandler(
  (event) => {
    const session = event.data.object as Stripe.Checkout.Session;
    const paymentId = idOf(session.payment_intent);
    if (!paymentId) return { ignored: 'no_payment_intent' };
    return { paymentId, referencedInvoiceId: session.client_reference_id ?? session.metadata?.invoice_id ?? null };
  },
  // The link is the whole effect: no fact of its own to write.
  async () => 'stale',
);
