import { randomBytes } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type Stripe from 'stripe';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { payableInvoice, underPayLock, type PayableInvoice } from './pay-lock.js';
import { settleStripeIntents, stripeFailure } from './stripe-intents.js';

export interface PayNowResult {
  paymentIntentId: string;
  clientSecret: string | null;
  amount: number;
  currency: string;
}

/**
 * Pay Now: one live PaymentIntent per invoice and amount due, on the invoice's merchant account,
 * carrying metadata.invoice_id (which links the payment back, and which Stripe's own
 * reconciliation reports read).
 *
 * Money safety does not rest on an idempotency key (Stripe forgets them after 24 h): every
 * PaymentIntent made is kept in invoice_payment_intents, and calls for one invoice run one at a
 * time under a row lock (pay-lock.ts, shared with Pay with PayPal). Each call asks Stripe where the
 * invoice's open PaymentIntents stand: one still payable for the amount due is handed out again;
 * one for another amount (a partial payment was recorded since) is canceled; while one is
 * processing, or succeeded but its events have not been applied yet, the call is refused (409
 * payment_processing). So is it while a PayPal payment of the invoice is being captured or
 * recorded (`otherGateways`): the amount due would not count it yet.
 */
export function createPayNowService(deps: {
  dataSource: DataSource;
  stripeClients: StripeClients;
  /** Throws 409 payment_processing while another gateway's payment of the invoice is under way (Pay with PayPal). */
  otherGateways?: (tx: EntityManager, invoice: PayableInvoice) => Promise<void>;
}) {
  /** `onlyAccount`: a token confined to one merchant account; another account's invoice is not found. */
  async function payInvoice(invoiceId: string, onlyAccount?: string): Promise<PayNowResult> {
    return underPayLock(deps.dataSource, invoiceId, async (tx) => {
      const invoice = await payableInvoice(tx, invoiceId, onlyAccount);
      await deps.otherGateways?.(tx, invoice);
      const stripe = await deps.stripeClients.forAccount(invoice.account_id);
      // The first payable one for the amount due is handed out again; any other payable one is superseded.
      let reusable: Stripe.PaymentIntent | undefined;
      await settleStripeIntents(tx, invoice, async () => stripe, (intent) => {
        if (reusable || intent.amount !== invoice.due || intent.currency !== invoice.currency) return false;
        reusable = intent;
        return true;
      });
      if (reusable) return view(reusable);
      try {
        const intent = await stripe.paymentIntents.create(
          {
            amount: invoice.due,
            currency: invoice.currency,
            metadata: { invoice_id: invoice.id, invoice_number: invoice.number },
            description: `Invoice ${invoice.number}`,
            automatic_payment_methods: { enabled: true },
          },
          // Only so a retried request cannot make a second one; reuse across calls comes from the table.
          { idempotencyKey: `pay-now-${invoice.id}-${randomBytes(12).toString('hex')}` },
        );
        await tx.query('INSERT INTO invoice_payment_intents (id, invoice_id, account_id, amount, currency, status) VALUES (?, ?, ?, ?, ?, ?)', [
          intent.id,
          invoice.id,
          invoice.account_id,
          intent.amount,
          intent.currency,
          intent.status,
        ]);
        // Recorded as this account's payment before its id reaches the payer's browser (it is in the client
        // secret): a merchant paying another's invoice could otherwise sign events about it for its own
        // endpoint first, and hold it. Its events link it to the invoice as they arrive.
        await tx.query('INSERT INTO payments (id, account_id, livemode) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE id = id', [intent.id, invoice.account_id, intent.livemode]);
        return view(intent);
      } catch (error) {
        throw stripeFailure(error);
      }
    });
  }

  const view = (intent: Stripe.PaymentIntent): PayNowResult => ({
    paymentIntentId: intent.id,
    clientSecret: intent.client_secret,
    amount: intent.amount,
    currency: intent.currency,
  });

  return {
    /** Creates or reuses the invoice's PaymentIntent for the amount due (admin route and pay links). */
    createPaymentIntent: payInvoice,
  };
}

export type PayNowService = ReturnType<typeof createPayNowService>;
