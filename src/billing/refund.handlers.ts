import type Stripe from 'stripe';
import { idOf, INVALID_OBJECT, paymentHandler, safeAmounts } from './apply-to-payment.js';
import { changesStatus, refundStatusMoves } from './status-order.js';

/** refund.created / .updated / .failed: one row per refund id, its status moving forward only. */
export const onRefund = paymentHandler(
  (event) => {
    const refund = event.data.object as Stripe.Refund;
    if (!safeAmounts(refund.amount)) return INVALID_OBJECT;
    const paymentId = idOf(refund.payment_intent) ?? idOf(refund.charge);
    // A refund of a customer balance or a bank transfer has no card payment to attach to.
    return paymentId ? { paymentId, referencedInvoiceId: null } : { ignored: 'no_payment' };
  },
  async ({ event, manager }, _payment, { paymentId }) => {
    const refund = event.data.object as Stripe.Refund;
    const chargeId = idOf(refund.charge);
    const status = refund.status ?? 'pending';
    const [current] = (await manager.query('SELECT status, status_event_created FROM refunds WHERE id = ? FOR UPDATE', [refund.id])) as {
      status: string;
      status_event_created: string;
    }[];
    if (!current) {
      manager.defer(
        `INSERT INTO refunds (id, payment_id, charge_id, currency, amount, status, status_event_created, reason, failure_reason, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [refund.id, paymentId, chargeId, refund.currency, refund.amount, status, event.created, refund.reason ?? null, refund.failure_reason ?? null, refund.created],
      );
      return 'applied';
    }
    const stored = { status: current.status, eventCreated: Number(current.status_event_created) };
    if (!changesStatus(refundStatusMoves, stored, { status, eventCreated: event.created })) return 'stale';
    manager.defer('UPDATE refunds SET status = ?, status_event_created = ?, failure_reason = ? WHERE id = ?', [
      status,
      event.created,
      refund.failure_reason ?? null,
      refund.id,
    ]);
    return 'applied';
  },
);
