import type Stripe from 'stripe';
import { idOf, INVALID_OBJECT, paymentHandler, safeAmounts } from './apply-to-payment.js';
import { paymentIntentStatusMoves } from './status-order.js';

/**
 * payment_intent.succeeded / .processing / .payment_failed / .canceled.
 * The invoice is the PaymentIntent's metadata.invoice_id (set by Pay Now).
 */
export const onPaymentIntent = paymentHandler(
  (event) => {
    const intent = event.data.object as Stripe.PaymentIntent;
    if (!safeAmounts(intent.amount, intent.amount_received)) return INVALID_OBJECT;
    return { paymentId: intent.id, referencedInvoiceId: intent.metadata?.invoice_id };
  },
  async ({ event, manager }, payment) => {
    const intent = event.data.object as Stripe.PaymentIntent;
    let changed = false;
    if (event.type === 'payment_intent.payment_failed') {
      // A declined attempt is a fact of its own, kept even when a later attempt succeeded.
      // Keyed by the declined charge, so the same attempt reported by two events is one failure.
      const error = intent.last_payment_error;
      const attemptKey = idOf(intent.latest_charge) ?? idOf(error?.charge as string | undefined) ?? `${event.created}:${error?.code ?? 'unknown'}`;
      const result = (await manager.query(
        `INSERT IGNORE INTO payment_failures (payment_id, attempt_key, event_id, code, decline_code, message, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [intent.id, attemptKey, event.id, error?.code ?? null, error?.decline_code ?? null, error?.message?.slice(0, 1024) ?? null, event.created],
      )) as { affectedRows: number };
      changed = result.affectedRows > 0;
    }

    const received = Math.max(payment.amount_received, intent.amount_received ?? 0);
    const moves = paymentIntentStatusMoves(
      { status: payment.status, eventCreated: payment.status_event_created },
      { status: intent.status, eventCreated: event.created },
    );
    if (moves) {
      manager.deferUpdate('payments', intent.id, {
        status: intent.status,
        status_event_created: event.created,
        currency: intent.currency,
        amount: intent.amount,
        amount_received: received,
      });
      return 'applied';
    }
    if (received > payment.amount_received) {
      manager.deferUpdate('payments', intent.id, { amount_received: received });
      return 'applied';
    }
    return changed ? 'applied' : 'stale';
  },
);
