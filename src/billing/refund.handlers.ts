import type Stripe from 'stripe';
import { idOf, INVALID_OBJECT, paymentHandler, safeAmounts } from './apply-to-payment.js';
import { rememberFact } from './payment-ledger.js';
import { changesStatus, refundStatusMoves } from './status-order.js';
import { accountScope } from '../shared/account-scope.js';

/** refund.created / .updated / .failed: one row per refund id, its status moving forward only. */
export const onRefund = paymentHandler(
  (event) => {
    const refund = event.data.object as Stripe.Refund;
    if (!safeAmounts(refund.amount)) return INVALID_OBJECT;
    const paymentId = idOf(refund.payment_intent) ?? idOf(refund.charge);
    // A refund of a customer balance or a bank transfer has no card payment to attach to.
    return paymentId ? { paymentId, referencedInvoiceId: null, fact: { table: 'refunds', id: refund.id } } : { ignored: 'no_payment' };
  },
  async ({ event, manager, accountId }, _payment, { paymentId, fact }, stored) => {
    const refund = event.data.object as Stripe.Refund;
    const chargeId = idOf(refund.charge);
    const status = refund.status ?? 'pending';
    if (!stored) {
      manager.defer(
        `INSERT INTO refunds (id, payment_id, account_scope, charge_id, currency, amount, status, status_event_created, reason, failure_reason, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          refund.id,
          paymentId,
          accountScope(accountId),
          chargeId,
          refund.currency,
          refund.amount,
          status,
          event.created,
          refund.reason ?? null,
          refund.failure_reason ?? null,
          refund.created,
        ],
      );
      rememberFact(manager, fact!, { paymentId, accountScope: accountScope(accountId), status, statusEventCreated: event.created });
      return 'applied';
    }
    if (!changesStatus(refundStatusMoves, { status: stored.status!, eventCreated: stored.statusEventCreated }, { status, eventCreated: event.created })) return 'stale';
    manager.defer('UPDATE refunds SET status = ?, status_event_created = ?, failure_reason = ? WHERE id = ? AND payment_id = ?', [
      status,
      event.created,
      refund.failure_reason ?? null,
      refund.id,
      paymentId,
    ]);
    rememberFact(manager, fact!, { ...stored, status, statusEventCreated: event.created });
    return 'applied';
  },
);
