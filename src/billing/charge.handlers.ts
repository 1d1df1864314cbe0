import type Stripe from 'stripe';
import { idOf, INVALID_OBJECT, paymentHandler, safeAmounts } from './apply-to-payment.js';

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
    return { paymentId: idOf(charge.payment_intent) ?? charge.id, referencedInvoiceId: charge.metadata?.invoice_id };
  },
  async ({ event, manager }, payment, { paymentId }) => {
    const charge = event.data.object as Stripe.Charge;
    // Such a charge sets its payment's currency and amount. The row is locked and current, so only
    // a missing value costs a write (merged with the link, if any).
    if (payment.currency === null || payment.amount === null) {
      manager.deferUpdate('payments', paymentId, { currency: payment.currency ?? charge.currency, amount: payment.amount ?? charge.amount });
    }
    const captured = charge.captured ? charge.amount_captured : 0;
    manager.defer(
      `INSERT INTO charges (id, payment_id, currency, amount, amount_captured, amount_refunded, succeeded, balance_transaction_id, stripe_created)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE
         amount_captured = GREATEST(amount_captured, VALUES(amount_captured)),
         amount_refunded = GREATEST(amount_refunded, VALUES(amount_refunded)),
         succeeded = succeeded OR VALUES(succeeded),
         balance_transaction_id = COALESCE(balance_transaction_id, VALUES(balance_transaction_id))`,
      [
        charge.id,
        paymentId,
        charge.currency,
        charge.amount,
        captured,
        charge.amount_refunded,
        charge.status === 'succeeded',
        idOf(charge.balance_transaction),
        charge.created,
      ],
    );
    return 'applied';
  },
);
