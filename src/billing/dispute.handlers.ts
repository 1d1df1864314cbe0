import type Stripe from 'stripe';
import { idOf, INVALID_OBJECT, paymentHandler, safeAmounts } from './apply-to-payment.js';
import { rememberFact } from './payment-ledger.js';
import { changesStatus, disputeStatusMoves } from './status-order.js';
import { accountScope } from '../shared/account-scope.js';

/** charge.dispute.created / .closed: one row per dispute id; `won` releases the invoice, `lost` keeps it disputed. */
export const onDispute = paymentHandler(
  (event) => {
    const dispute = event.data.object as Stripe.Dispute;
    if (!safeAmounts(dispute.amount)) return INVALID_OBJECT;
    const chargeId = idOf(dispute.charge);
    // Stripe always names the disputed charge; an object without one has nothing to attach to.
    if (!chargeId) return { ignored: 'no_payment' };
    return { paymentId: idOf(dispute.payment_intent) ?? chargeId, referencedInvoiceId: null, fact: { table: 'disputes', id: dispute.id } };
  },
  async ({ event, manager, accountId }, _payment, { paymentId, fact }, stored) => {
    const dispute = event.data.object as Stripe.Dispute;
    const chargeId = idOf(dispute.charge)!;
    if (!stored) {
      manager.defer(
        `INSERT INTO disputes (id, payment_id, account_scope, charge_id, currency, amount, status, status_event_created, reason, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [dispute.id, paymentId, accountScope(accountId), chargeId, dispute.currency, dispute.amount, dispute.status, event.created, dispute.reason, dispute.created],
      );
      rememberFact(manager, fact!, { paymentId, accountScope: accountScope(accountId), status: dispute.status, statusEventCreated: event.created });
      return 'applied';
    }
    const current = { status: stored.status!, eventCreated: stored.statusEventCreated };
    if (!changesStatus(disputeStatusMoves, current, { status: dispute.status, eventCreated: event.created })) return 'stale';
    manager.defer('UPDATE disputes SET status = ?, status_event_created = ? WHERE id = ? AND payment_id = ?', [dispute.status, event.created, dispute.id, paymentId]);
    rememberFact(manager, fact!, { ...stored, status: dispute.status, statusEventCreated: event.created });
    return 'applied';
  },
);
