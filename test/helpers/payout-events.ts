import type Stripe from 'stripe';
import { stripeEvent, uniqueId } from './stripe-events.js';

export type PayoutEventType = 'payout.created' | 'payout.paid' | 'payout.failed' | 'payout.canceled' | 'payout.reconciliation_completed';

/**
 * Stripe-shaped payout events for one payout, with the status and
 * reconciliation_status Stripe puts on the payout at each step.
 */
export function payoutEvents(p: { amount: number; currency?: string; arrivalDate?: number; automatic?: boolean; id?: string }) {
  const id = p.id ?? uniqueId('po');
  const balanceTransactionId = uniqueId('txn');
  const failureTransactionId = uniqueId('txn');
  const arrivalDate = p.arrivalDate ?? 1_760_400_000;
  let clock = 1_760_300_000;
  const at = (created?: number) => created ?? (clock += 10);

  const status: Record<PayoutEventType, string> = {
    'payout.created': 'pending',
    'payout.paid': 'paid',
    'payout.failed': 'failed',
    'payout.canceled': 'canceled',
    'payout.reconciliation_completed': 'paid',
  };

  return {
    id,
    balanceTransactionId,
    /** The transaction by which Stripe returns the money of this payout, once it failed, to the balance. */
    failureTransactionId,
    event(type: PayoutEventType, options: { created?: number } = {}): Stripe.Event {
      const failed = type === 'payout.failed';
      return stripeEvent({
        type,
        resource: 'payout',
        created: at(options.created),
        object: {
          id,
          amount: p.amount,
          currency: p.currency ?? 'usd',
          arrival_date: arrivalDate,
          automatic: p.automatic ?? true,
          created: 1_760_290_000,
          status: status[type],
          balance_transaction: balanceTransactionId,
          failure_balance_transaction: failed ? failureTransactionId : null,
          failure_code: failed ? 'account_closed' : null,
          failure_message: failed ? 'The bank account has been closed.' : null,
          reconciliation_status: type === 'payout.created' ? 'in_progress' : type === 'payout.paid' ? 'in_progress' : 'completed',
        },
      });
    },
  };
}
