import { paymentHandler } from './apply-to-payment.js';
import { rememberFact } from './payment-ledger.js';
import { writeRefund } from './refund.handlers.js';
import { accountScope } from '../shared/account-scope.js';
import { readCharge } from '../stripe/objects/payment-objects.js';

/**
 * charge.succeeded / .captured / .refunded / .expired. The charge as src/stripe/objects reads it
 * in any API version: captured money only once captured (a partial capture is paid for what was
 * captured), refunded money only from refunds (an authorization released uncaptured, by a partial
 * capture, a cancel or expiry, is neither a payment nor a refund). `amount_refunded` is Stripe's
 * cumulative total, kept here as the largest value seen, whatever order the events came in.
 */
export const onCharge = paymentHandler(
  readCharge,
  // A charge made without a PaymentIntent is its own payment.
  (charge) => ({ paymentId: charge.paymentId, referencedInvoiceId: charge.invoiceId, fact: { table: 'charges', id: charge.id } }),
  async (context, charge, payment, { paymentId, fact }, stored) => {
    const { manager, accountId } = context;
    // Such a charge sets its payment's currency and amount. The row is locked and current, so only
    // a missing value costs a write (merged with the link, if any).
    if (payment.currency === null || payment.amount === null) {
      manager.deferUpdate('payments', paymentId, { currency: payment.currency ?? charge.currency, amount: payment.amount ?? charge.amount });
    }
    if (!stored) {
      // A plain INSERT: if another payment claims the same new id meanwhile, this one fails on the key
      // and runs again, and then finds the charge held (see StoredFact).
      manager.defer(
        `INSERT INTO charges (id, payment_id, account_scope, currency, amount, amount_captured, amount_refunded, amount_released, succeeded, balance_transaction_id, stripe_created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          charge.id,
          paymentId,
          accountScope(accountId),
          charge.currency,
          charge.amount,
          charge.amountCaptured,
          charge.amountRefunded,
          charge.amountReleased,
          charge.succeeded,
          charge.balanceTransactionId,
          charge.created,
        ],
      );
      rememberFact(manager, fact!, { paymentId, accountScope: accountScope(accountId), status: null, statusEventCreated: 0 });
    } else {
      // Amounts only grow and success sticks, so any delivery order ends the same. Guarded by the
      // payment as every fact write is, though applyToPayment checked it already.
      manager.defer(
        `UPDATE charges SET amount_captured = GREATEST(amount_captured, ?), amount_refunded = GREATEST(amount_refunded, ?),
           amount_released = GREATEST(amount_released, ?), succeeded = succeeded OR ?, balance_transaction_id = COALESCE(balance_transaction_id, ?)
         WHERE id = ? AND payment_id = ?`,
        [charge.amountCaptured, charge.amountRefunded, charge.amountReleased, charge.succeeded, charge.balanceTransactionId, charge.id, paymentId],
      );
    }
    // Older versions' charges carry their refund objects: the same facts refund events give.
    for (const refund of charge.refunds) await writeRefund(context, paymentId, refund);
    return 'applied';
  },
);
