import type { DataSource, EntityManager } from 'typeorm';
import { AppError } from '../shared/errors.js';
import { INVOICE_VISIBLE_SQL, invoiceNotFound, visibleParams } from './invoice-errors.js';

/**
 * What every way of paying an invoice (Stripe's Pay Now, Pay with PayPal) shares: one lock per
 * invoice, so that at most one of them decides at a time whether money may move, and the checks
 * they make under it.
 */

export interface PayableInvoice {
  id: string;
  number: string;
  account_id: string | null;
  currency: string;
  amount_due: string;
  amount_paid: string;
  status: string;
  /** What is still due, in the minor unit: amount due less what the recorded payments brought. */
  due: number;
}

/**
 * Runs `work` holding the invoice's row in pay_now_locks. Its own row, not the invoice's: the event
 * handlers keep updating the invoice while Stripe or PayPal is asked. Both gateways take this one
 * lock, so a card payment and a PayPal capture of one invoice are decided one after the other.
 */
export async function underPayLock<T>(dataSource: DataSource, invoiceId: string, work: (tx: EntityManager) => Promise<T>): Promise<T> {
  await dataSource.query('INSERT IGNORE INTO pay_now_locks (invoice_id) VALUES (?)', [invoiceId]);
  return dataSource.transaction(async (tx) => {
    await tx.query('SELECT invoice_id FROM pay_now_locks WHERE invoice_id = ? FOR UPDATE', [invoiceId]);
    return work(tx);
  });
}

/** The invoice, if it can be paid now: 404 when not visible, 409 invoice_void or invoice_paid. */
export async function payableInvoice(tx: EntityManager, invoiceId: string, onlyAccount: string | undefined): Promise<PayableInvoice> {
  const [invoice] = (await tx.query(
    `SELECT id, number, account_id, currency, amount_due, amount_paid, status FROM invoices WHERE id = ? AND ${INVOICE_VISIBLE_SQL}`,
    [invoiceId, ...visibleParams(onlyAccount)],
  )) as Omit<PayableInvoice, 'due'>[];
  if (!invoice) throw invoiceNotFound(invoiceId);
  if (invoice.status === 'void') throw new AppError(409, 'invoice_void', 'This invoice is void and cannot be paid.');
  const due = Number(invoice.amount_due) - Number(invoice.amount_paid);
  if (due <= 0 || invoice.status === 'paid') {
    throw new AppError(409, 'invoice_paid', `Invoice ${invoice.number} is already paid (status ${invoice.status}); nothing is due.`);
  }
  return { ...invoice, due };
}

/** Whether the payment events of this payment (a PaymentIntent, a PayPal capture) have been applied: its money counts in amount_paid. */
export async function paymentRecorded(tx: EntityManager, paymentId: string): Promise<boolean> {
  const [row] = (await tx.query('SELECT amount_received FROM payments WHERE id = ?', [paymentId])) as { amount_received: string }[];
  return Number(row?.amount_received ?? 0) > 0;
}

export const paymentProcessing = (number: string) =>
  new AppError(
    409,
    'payment_processing',
    `A payment for invoice ${number} is already under way (a card payment processing, or a card or PayPal payment made and being recorded): wait for it to finish before paying again.`,
  );
