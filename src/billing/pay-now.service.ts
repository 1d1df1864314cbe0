import { randomBytes } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import Stripe from 'stripe';
import { AppError } from '../shared/errors.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { INVOICE_VISIBLE_SQL, invoiceNotFound, visibleParams } from './invoice-errors.js';

/** Stripe statuses in which a PaymentIntent can still be paid by the payer's browser. */
const PAYABLE = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action']);
/** Money is moving (or authorised and waiting for capture): another PaymentIntent could charge twice. */
const IN_FLIGHT = new Set(['processing', 'requires_capture']);

interface InvoiceRow {
  id: string;
  number: string;
  account_id: string | null;
  currency: string;
  amount_due: string;
  amount_paid: string;
  status: string;
}

interface IntentRow {
  id: string;
  amount: string;
  currency: string;
  status: string;
}

export interface PayNowResult {
  paymentIntentId: string;
  clientSecret: string | null;
  amount: number;
  currency: string;
}

const processing = (number: string) =>
  new AppError(
    409,
    'payment_processing',
    `A payment for invoice ${number} is already under way (its PaymentIntent is processing, or succeeded and is being recorded): wait for it to finish before paying again.`,
  );

function stripeFailure(error: unknown): unknown {
  if (error instanceof Stripe.errors.StripeAuthenticationError) {
    return new AppError(409, 'invalid_api_key', 'Stripe rejected the connected key (revoked or rolled): reconnect Stripe in Settings > Payment Gateways.');
  }
  if (error instanceof Stripe.errors.StripeConnectionError) {
    return new AppError(502, 'stripe_unreachable', 'Stripe could not be reached; no payment was created. Try again in a minute.');
  }
  if (error instanceof Stripe.errors.StripeError) {
    return new AppError(502, 'stripe_error', `Stripe refused the payment: ${error.message}`);
  }
  return error;
}

/**
 * Pay Now: one live PaymentIntent per invoice and amount due, on the invoice's merchant account,
 * carrying metadata.invoice_id (which links the payment back, and which Stripe's own
 * reconciliation reports read).
 *
 * Money safety does not rest on an idempotency key (Stripe forgets them after 24 h): every
 * PaymentIntent made is kept in invoice_payment_intents, and calls for one invoice run one at a
 * time under a row lock. Each call asks Stripe where the invoice's open PaymentIntents stand:
 * one still payable for the amount due is handed out again; one for another amount (a partial
 * payment was recorded since) is canceled; while one is processing, or succeeded but its events
 * have not been applied yet, the call is refused (409 payment_processing).
 */
export function createPayNowService(deps: { dataSource: DataSource; stripeClients: StripeClients }) {
  async function underInvoiceLock<T>(invoiceId: string, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    await deps.dataSource.query('INSERT IGNORE INTO pay_now_locks (invoice_id) VALUES (?)', [invoiceId]);
    return deps.dataSource.transaction(async (tx) => {
      // Its own row, not the invoice's: the event handlers keep updating the invoice while Stripe is asked.
      await tx.query('SELECT invoice_id FROM pay_now_locks WHERE invoice_id = ? FOR UPDATE', [invoiceId]);
      return work(tx);
    });
  }

  async function payableInvoice(tx: EntityManager, invoiceId: string, onlyAccount: string | undefined): Promise<InvoiceRow & { due: number }> {
    const [invoice] = (await tx.query(
      `SELECT id, number, account_id, currency, amount_due, amount_paid, status FROM invoices WHERE id = ? AND ${INVOICE_VISIBLE_SQL}`,
      [invoiceId, ...visibleParams(onlyAccount)],
    )) as InvoiceRow[];
    if (!invoice) throw invoiceNotFound(invoiceId);
    if (invoice.status === 'void') throw new AppError(409, 'invoice_void', 'This invoice is void and cannot be paid.');
    const due = Number(invoice.amount_due) - Number(invoice.amount_paid);
    if (due <= 0 || invoice.status === 'paid') {
      throw new AppError(409, 'invoice_paid', `Invoice ${invoice.number} is already paid (status ${invoice.status}); nothing is due.`);
    }
    return { ...invoice, due };
  }

  /** Whether the payment events of this PaymentIntent have been applied (its money counts in amount_paid). */
  async function recorded(tx: EntityManager, paymentIntentId: string): Promise<boolean> {
    const [row] = (await tx.query('SELECT amount_received FROM payments WHERE id = ?', [paymentIntentId])) as { amount_received: string }[];
    return Number(row?.amount_received ?? 0) > 0;
  }

  /** `onlyAccount`: a token confined to one merchant account; another account's invoice is not found. */
  async function payInvoice(invoiceId: string, onlyAccount?: string): Promise<PayNowResult> {
    return underInvoiceLock(invoiceId, async (tx) => {
      const invoice = await payableInvoice(tx, invoiceId, onlyAccount);
      const stripe = await deps.stripeClients.forAccount(invoice.account_id);
      const setStatus = (id: string, status: string) => tx.query('UPDATE invoice_payment_intents SET status = ? WHERE id = ?', [status, id]);
      try {
        const open = (await tx.query(
          `SELECT id, amount, currency, status FROM invoice_payment_intents
            WHERE invoice_id = ? AND status NOT IN ('canceled', 'succeeded') ORDER BY created_at DESC, id`,
          [invoiceId],
        )) as IntentRow[];
        let reusable: Stripe.PaymentIntent | undefined;
        for (const row of open) {
          let intent: Stripe.PaymentIntent = await stripe.paymentIntents.retrieve(row.id);
          if (PAYABLE.has(intent.status) && !reusable && intent.amount === invoice.due && intent.currency === invoice.currency) {
            reusable = intent;
          } else if (PAYABLE.has(intent.status)) {
            // Superseded (the amount due changed, or a newer one is handed out): nobody may pay it any more.
            intent = await cancelOrRecheck(stripe, intent);
          }
          if (IN_FLIGHT.has(intent.status)) {
            await setStatus(row.id, intent.status);
            throw processing(invoice.number);
          }
          // Succeeded, but its events not applied yet: the amount due above does not count it.
          if (intent.status === 'succeeded' && !(await recorded(tx, intent.id))) throw processing(invoice.number);
          await setStatus(row.id, intent.status);
        }
        if (reusable) return view(reusable);

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

  /** Cancels a superseded PaymentIntent; if Stripe says it moved on meanwhile (the payer just paid), answers where it is now. */
  async function cancelOrRecheck(stripe: Stripe, intent: Stripe.PaymentIntent): Promise<Stripe.PaymentIntent> {
    try {
      return await stripe.paymentIntents.cancel(intent.id);
    } catch (error) {
      if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) throw error;
      const now = await stripe.paymentIntents.retrieve(intent.id);
      if (PAYABLE.has(now.status)) throw error;
      return now;
    }
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
