import type { DataSource } from 'typeorm';
import Stripe from 'stripe';
import { AppError } from '../shared/errors.js';
import type { StripeClients } from '../stripe/stripe-clients.js';

/**
 * Pay Now: a PaymentIntent for what is still due, on the invoice's merchant
 * account, carrying metadata.invoice_id (which links the payment back, and
 * which Stripe's own reconciliation reports read).
 */
export function createPayNowService(deps: { dataSource: DataSource; stripeClients: StripeClients }) {
  return {
    async createPaymentIntent(invoiceId: string) {
      const [invoice] = (await deps.dataSource.query(
        'SELECT id, number, account_id, currency, amount_due, amount_paid, status FROM invoices WHERE id = ?',
        [invoiceId],
      )) as { id: string; number: string; account_id: string | null; currency: string; amount_due: string; amount_paid: string; status: string }[];
      if (!invoice) throw new AppError(404, 'invoice_not_found', `No invoice "${invoiceId}".`);
      if (invoice.status === 'void') throw new AppError(409, 'invoice_void', 'This invoice is void and cannot be paid.');
      const amount = Number(invoice.amount_due) - Number(invoice.amount_paid);
      if (amount <= 0 || invoice.status === 'paid') {
        throw new AppError(409, 'invoice_paid', `Invoice ${invoice.number} is already paid (status ${invoice.status}); nothing is due.`);
      }

      const stripe = await deps.stripeClients.forAccount(invoice.account_id);
      try {
        const intent = await stripe.paymentIntents.create(
          {
            amount,
            currency: invoice.currency,
            metadata: { invoice_id: invoice.id, invoice_number: invoice.number },
            description: `Invoice ${invoice.number}`,
            automatic_payment_methods: { enabled: true },
          },
          // A double click (or a retry) gets the same PaymentIntent back; a new amount due gets a new one.
          { idempotencyKey: `pay-now-${invoice.id}-${amount}` },
        );
        // Recorded as this account's payment before its id reaches the payer's browser (it is in the client
        // secret): a merchant paying another's invoice could otherwise sign events about it for its own
        // endpoint first, and hold it. Its events link it to the invoice as they arrive.
        await deps.dataSource.query('INSERT INTO payments (id, account_id, livemode) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE id = id', [
          intent.id,
          invoice.account_id,
          intent.livemode,
        ]);
        return { paymentIntentId: intent.id, clientSecret: intent.client_secret, amount: intent.amount, currency: intent.currency };
      } catch (error) {
        if (error instanceof Stripe.errors.StripeAuthenticationError) {
          throw new AppError(409, 'invalid_api_key', 'Stripe rejected the connected key (revoked or rolled): reconnect Stripe in Settings > Payment Gateways.');
        }
        if (error instanceof Stripe.errors.StripeConnectionError) {
          throw new AppError(502, 'stripe_unreachable', 'Stripe could not be reached; no payment was created. Try again in a minute.');
        }
        if (error instanceof Stripe.errors.StripeError) {
          throw new AppError(502, 'stripe_error', `Stripe refused the payment: ${error.message}`);
        }
        throw error;
      }
    },
  };
}

export type PayNowService = ReturnType<typeof createPayNowService>;
