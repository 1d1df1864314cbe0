import type { HandlerContext } from '../events/handler-registry.js';
import { paymentHandler, type WriteResult } from './apply-to-payment.js';
import { rememberFact, storedFact, type StoredFact } from './payment-ledger.js';
import { changesStatus, refundStatusMoves } from './status-order.js';
import { accountScope } from '../shared/account-scope.js';
import { readRefund, type RefundView } from '../stripe/objects/payment-objects.js';

/**
 * refund.created / .updated / .failed, and charge.refund.updated (how API versions before
 * 2024-10-28 report a card refund's status changes): one row per refund id, its status moving
 * forward only. A refund that fails or is canceled gives the money back to the invoice.
 */
export const onRefund = paymentHandler(
  readRefund,
  // A refund of a customer balance or a bank transfer has no card payment to attach to.
  (refund) => (refund.paymentId ? { paymentId: refund.paymentId, referencedInvoiceId: null, fact: { table: 'refunds', id: refund.id } } : { ignored: 'no_payment' }),
  async (context, refund, _payment, { paymentId }, stored) => writeRefund(context, paymentId, refund, stored),
);

/**
 * Writes a refund fact of the locked payment `paymentId`. `stored` as read with the locks; left out
 * (a refund listed on an older version's charge), it is read here, and a refund held by another
 * payment or account is left alone, as applyToPayment does for an event's own fact.
 */
export async function writeRefund(
  { event, manager, accountId }: HandlerContext,
  paymentId: string,
  refund: RefundView,
  knownStored?: StoredFact | null,
): Promise<WriteResult> {
  const fact = { table: 'refunds', id: refund.id } as const;
  const stored = knownStored === undefined ? await storedFact(manager, fact) : knownStored;
  if (knownStored === undefined && stored && (stored.accountScope !== accountScope(accountId) || stored.paymentId !== paymentId)) return 'stale';
  const status = refund.status;
  if (!stored) {
    manager.defer(
      `INSERT INTO refunds (id, payment_id, account_scope, charge_id, currency, amount, status, status_event_created, reason, failure_reason, stripe_created)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [refund.id, paymentId, accountScope(accountId), refund.chargeId, refund.currency, refund.amount, status, event.created, refund.reason, refund.failureReason, refund.created],
    );
    rememberFact(manager, fact, { paymentId, accountScope: accountScope(accountId), status, statusEventCreated: event.created });
    return 'applied';
  }
  if (!changesStatus(refundStatusMoves, { status: stored.status!, eventCreated: stored.statusEventCreated }, { status, eventCreated: event.created })) return 'stale';
  manager.defer('UPDATE refunds SET status = ?, status_event_created = ?, failure_reason = ? WHERE id = ? AND payment_id = ?', [
    status,
    event.created,
    refund.failureReason,
    refund.id,
    paymentId,
  ]);
  rememberFact(manager, fact, { ...stored, status, statusEventCreated: event.created });
  return 'applied';
}
