import { paymentHandler } from './apply-to-payment.js';
import { readCheckoutSession } from '../stripe/objects/payment-objects.js';

/**
 * checkout.session.completed links the session's PaymentIntent to the invoice
 * named by client_reference_id (or metadata.invoice_id). The money itself is
 * counted from the payment_intent and charge events.
 */
export const onCheckoutSessionCompleted = paymentHandler(
  readCheckoutSession,
  (session) => (session.paymentIntentId ? { paymentId: session.paymentIntentId, referencedInvoiceId: session.invoiceId } : { ignored: 'no_payment_intent' }),
  // The link is the whole effect: no fact of its own to write.
  async () => 'stale',
);
