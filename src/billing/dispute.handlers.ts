import type Stripe from 'stripe';
import { idOf, INVALID_OBJECT, paymentHandler, safeAmounts } from './apply-to-payment.js';
import { changesStatus, disputeStatusMoves } from './status-order.js';

/** charge.dispute.created / .closed: one row per dispute id; `won` releases the invoice, `lost` keeps it disputed. */
export const onDispute = paymentHandler(
  (event) => {
    const dispute = event.data.object as Stripe.Dispute;
    if (!safeAmounts(dispute.amount)) return INVALID_OBJECT;
    const chargeId = idOf(dispute.charge);
    // Stripe always names the disputed charge; an object without one has nothing to attach to.
    if (!chargeId) return { ignored: 'no_payment' };
    return { paymentId: idOf(dispute.payment_intent) ?? chargeId, referencedInvoiceId: null };
  },
  async ({ event, manager }, _payment, { paymentId }) => {
    const dispute = event.data.object as Stripe.Dispute;
    const chargeId = idOf(dispute.charge)!;
    const [current] = (await manager.query('SELECT status, status_event_created FROM disputes WHERE id = ? FOR UPDATE', [dispute.id])) as {
      status: string;
      status_event_created: string;
    }[];
    if (!current) {
      manager.defer(
        `INSERT INTO disputes (id, payment_id, charge_id, currency, amount, status, status_event_created, reason, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [dispute.id, paymentId, chargeId, dispute.currency, dispute.amount, dispute.status, event.created, dispute.reason, dispute.created],
      );
      return 'applied';
    }
    const stored = { status: current.status, eventCreated: Number(current.status_event_created) };
    if (!changesStatus(disputeStatusMoves, stored, { status: dispute.status, eventCreated: event.created })) return 'stale';
    manager.defer('UPDATE disputes SET status = ?, status_event_created = ? WHERE id = ?', [dispute.status, event.created, dispute.id]);
    return 'applied';
  },
);
