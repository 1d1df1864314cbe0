import type Stripe from 'stripe';
import { idOf, INVALID_OBJECT, paymentHandler, safeAmounts } from './apply-to-payment.js';
import { rememberFact } from './payment-ledger.js';
import { accountScope } from '../shared/account-scope.js';

/**
 * charge.succeeded / charge.refunded. Since API 2022-11-15 `charge.refunds` is
 * not expanded: `amount_refunded` is the cumulative total, kept here as the
 * largest value seen, whatever order the events came in.
 */
export const onCharge = paymentHandler(
  (event) => {
    const charge = event.data.object as Stripe.Charge;
    if (!safeAmounts(charge.amount, charge.amount_captured, charge.amount_refunded)) return INVALID_OBJECT;
    // A charge made without a PaymentIntent is its own payment.
    return { paymentId: idOf(charge.payment_intent) ?? charge.id, referencedInvoiceId: charge.metadata?.invoice_id, fact: { table: 'charges', id: charge.id } };
  },
  async ({ event, manager, accountId }, payment, { paymentId, fact }, stored) => {
    const charge = event.data.object as Stripe.Charge;
    // Such a charge sets its payment's currency and amount. The row is locked and current, so only
    // a missing value costs a write (merged with the link, if any).
    if (payment.currency === null || payment.amount === null) {
      manager.deferUpdate('payments', paymentId, { currency: payment.currency ?? charge.currency, amount: payment.amount ?? charge.amount });
    }
    const captured = charge.captured ? charge.amount_captured : 0;
    const succeeded = charge.status === 'succeeded';
    const balanceTransaction = idOf(charge.balance_transaction);
    if (!stored) {
      // A plain INSERT: if another payment claims the same new id meanwhile, this one fails on the key
      // and runs again, and then finds the charge held (see StoredFact).
      manager.defer(
        `INSERT INTO charges (id, payment_id, account_scope, currency, amount, amount_captured, amount_refunded, succeeded, balance_transaction_id, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [charge.id, paymentId, accountScope(accountId), charge.currency, charge.amount, captured, charge.amount_refunded, succeeded, balanceTransaction, charge.created],
      );
      rememberFact(manager, fact!, { paymentId, accountScope: accountScope(accountId), status: null, statusEventCreated: 0 });
    } else {
      // Amounts only grow and success sticks, so any delivery order ends the same. Guarded by the
      // payment as every fact write is, though applyToPayment checked it already.
      manager.defer(
        `UPDATE charges SET amount_captured = GREATEST(amount_captured, ?), amount_refunded = GREATEST(amount_refunded, ?), succeeded = succeeded OR ?,
           balance_transaction_id = COALESCE(balance_transaction_id, ?)
         WHERE id = ? AND payment_id = ?`,
        [captured, charge.amount_refunded, succeeded, balanceTransaction, charge.id, paymentId],
      );
    }
    return 'applied';
  },
);
