import { paymentHandler } from './apply-to-payment.js';
import { paymentIntentStatusMoves } from './status-order.js';
import { readPaymentIntent } from '../stripe/objects/payment-objects.js';

/**
 * payment_intent.succeeded / .processing / .payment_failed / .canceled.
 * The invoice is the PaymentIntent's metadata.invoice_id (set by Pay Now).
 */
export const onPaymentIntent = paymentHandler(
  readPaymentIntent,
  (intent) => ({ paymentId: intent.id, referencedInvoiceId: intent.invoiceId }),
  async ({ event, manager }, intent, payment) => {
    let changed = false;
    if (event.type === 'payment_intent.payment_failed') {
      // A declined attempt is a fact of its own, kept even when a later attempt succeeded.
      // Keyed by the declined charge, so the same attempt reported by two events is one failure.
      const error = intent.lastError;
      const attemptKey = intent.latestChargeId ?? error?.chargeId ?? `${event.created}:${error?.code ?? 'unknown'}`;
      const result = (await manager.query(
        `INSERT IGNORE INTO payment_failures (payment_id, attempt_key, event_id, code, decline_code, message, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [intent.id, attemptKey, event.id, error?.code ?? null, error?.declineCode ?? null, error?.message ?? null, event.created],
      )) as { affectedRows: number };
      changed = result.affectedRows > 0;
    }

    const received = Math.max(payment.amount_received, intent.amountReceived);
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
