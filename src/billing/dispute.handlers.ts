import { paymentHandler } from './apply-to-payment.js';
import { rememberFact } from './payment-ledger.js';
import { changesStatus, disputeStatusMoves } from './status-order.js';
import { accountScope } from '../shared/account-scope.js';
import { readDispute } from '../stripe/objects/payment-objects.js';

/**
 * charge.dispute.created / .updated / .funds_withdrawn / .funds_reinstated / .closed: one row per
 * dispute id, its status moving forward only. The status says whether the funds are held
 * (status-order.ts): an inquiry (`warning_*`) holds none until it escalates to a chargeback
 * (`needs_response`, when Stripe withdraws the funds); `won` releases them, `lost` keeps them.
 */
export const onDispute = paymentHandler(
  readDispute,
  (dispute) =>
    // Stripe always names the disputed charge; an object without one has nothing to attach to.
    dispute.paymentId && dispute.chargeId
      ? { paymentId: dispute.paymentId, referencedInvoiceId: null, fact: { table: 'disputes', id: dispute.id } }
      : { ignored: 'no_payment' },
  async ({ event, manager, accountId }, view, _payment, { paymentId, fact }, stored) => {
    // Withdrawn funds make a chargeback whatever the snapshot's status says: an inquiry whose
    // funds_withdrawn event still reads warning_* has escalated.
    const dispute =
      event.type === 'charge.dispute.funds_withdrawn' && view.status.startsWith('warning_') ? { ...view, status: 'needs_response' } : view;
    if (!stored) {
      manager.defer(
        `INSERT INTO disputes (id, payment_id, account_scope, charge_id, currency, amount, status, status_event_created, reason, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [dispute.id, paymentId, accountScope(accountId), dispute.chargeId, dispute.currency, dispute.amount, dispute.status, event.created, dispute.reason, dispute.created],
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
