import type { DataSource } from 'typeorm';
import { AppError } from '../shared/errors.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import type { PaypalMode } from '../paypal/paypal-client.js';
import type { PayableInvoice } from './pay-lock.js';

export interface PayPageView {
  invoiceNumber: string;
  status: string;
  /** Still due, in the minor unit (0 once paid). */
  amountDue: number;
  currency: string;
  /** How the payer may pay: by card (Stripe.js) when the account has Stripe; with PayPal (its JS SDK) when it has PayPal. */
  gateways: { stripe: boolean; paypal: { clientId: string; mode: PaypalMode } | null };
}

/**
 * GET /pay/:token: what the payer's page shows and which buttons it draws. Nothing secret: the
 * PayPal client id is public (PayPal's JS SDK is loaded with it), and no payment is made or asked for.
 */
export function createPayPage(deps: { dataSource: DataSource; stripeClients: StripeClients; paypalConnections: PaypalConnectionService }) {
  /** A Stripe key the account can use (the default account: STRIPE_SECRET_KEY); a refused one offers no card payment. */
  async function hasStripe(accountId: string | null): Promise<boolean> {
    try {
      await deps.stripeClients.apiKey(accountId);
      return true;
    } catch (error) {
      if (error instanceof AppError) return false;
      throw error;
    }
  }

  return {
    async view(invoiceId: string): Promise<PayPageView> {
      const [invoice] = (await deps.dataSource.query('SELECT number, account_id, currency, amount_due, amount_paid, status FROM invoices WHERE id = ?', [
        invoiceId,
      ])) as Omit<PayableInvoice, 'id' | 'due'>[];
      // A link outlives nothing it names: invoices are not deleted, but answer as for any bad link if one were.
      if (!invoice) throw new AppError(404, 'pay_link_invalid', 'This payment link is unknown, expired or revoked: ask the merchant for a new one.');
      return {
        invoiceNumber: invoice.number,
        status: invoice.status,
        amountDue: Math.max(0, Number(invoice.amount_due) - Number(invoice.amount_paid)),
        currency: invoice.currency,
        gateways: {
          stripe: await hasStripe(invoice.account_id),
          paypal: invoice.account_id === null ? null : await deps.paypalConnections.checkoutApp(invoice.account_id),
        },
      };
    },
  };
}

export type PayPage = ReturnType<typeof createPayPage>;
