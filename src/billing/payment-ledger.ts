import type { EntityManager } from 'typeorm';
import { deriveInvoiceState, type InvoiceFacts, type InvoiceState } from './invoice-state';

/**
 * The facts store, used inside the event's transaction. Lock order is always
 * payment row → invoice row, so events of one payment run one after another,
 * payments of one invoice serialise on the invoice, and two transactions never
 * wait on each other in a circle.
 */

export interface PaymentRow {
  id: string;
  invoice_id: string | null;
  unmatched_reason: string | null;
  account_id: string | null;
  currency: string | null;
  amount: number | null;
  amount_received: number;
  status: string | null;
  status_event_created: number;
}

/** Creates the payment row if it is new, then locks it for the rest of the transaction. */
export async function lockPayment(
  manager: EntityManager,
  paymentId: string,
  origin: { accountId: string | null; livemode: boolean },
): Promise<PaymentRow> {
  await manager.query('INSERT IGNORE INTO payments (id, account_id, livemode) VALUES (?, ?, ?)', [
    paymentId,
    origin.accountId,
    origin.livemode,
  ]);
  const [row] = (await manager.query('SELECT * FROM payments WHERE id = ? FOR UPDATE', [paymentId])) as PaymentRow[];
  return normalise(row!);
}

const normalise = (row: PaymentRow): PaymentRow => ({
  ...row,
  amount: row.amount === null ? null : Number(row.amount),
  amount_received: Number(row.amount_received),
  status_event_created: Number(row.status_event_created),
});

export type InvoiceLink = { invoiceId: string } | { invoiceId: null; unmatchedReason: string };

/**
 * Which invoice a payment belongs to. A payment, once linked, stays on its
 * invoice: a later event naming another invoice does not move the money.
 * The invoice row is locked (FOR UPDATE) when found.
 */
export async function linkInvoice(
  manager: EntityManager,
  payment: PaymentRow,
  referencedInvoiceId: string | null | undefined,
  accountId: string | null,
): Promise<InvoiceLink> {
  if (payment.invoice_id) {
    await lockInvoice(manager, payment.invoice_id);
    return { invoiceId: payment.invoice_id };
  }
  if (!referencedInvoiceId) {
    if (payment.unmatched_reason) return { invoiceId: null, unmatchedReason: payment.unmatched_reason };
    await manager.query('UPDATE payments SET unmatched_reason = ? WHERE id = ?', ['no_invoice_reference', payment.id]);
    return { invoiceId: null, unmatchedReason: 'no_invoice_reference' };
  }
  const invoice = await lockInvoice(manager, referencedInvoiceId);
  const reason = !invoice ? 'invoice_not_found' : invoice.account_id !== accountId ? 'account_mismatch' : null;
  if (reason) {
    await manager.query('UPDATE payments SET unmatched_reason = ? WHERE id = ?', [reason, payment.id]);
    return { invoiceId: null, unmatchedReason: reason };
  }
  await manager.query('UPDATE payments SET invoice_id = ?, unmatched_reason = NULL WHERE id = ?', [referencedInvoiceId, payment.id]);
  payment.invoice_id = referencedInvoiceId;
  return { invoiceId: referencedInvoiceId };
}

async function lockInvoice(manager: EntityManager, invoiceId: string): Promise<{ account_id: string | null } | undefined> {
  const [row] = (await manager.query('SELECT account_id FROM invoices WHERE id = ? FOR UPDATE', [invoiceId])) as {
    account_id: string | null;
  }[];
  return row;
}

/** Re-derives the invoice's totals and status from all its facts; the caller holds the invoice lock. */
export async function recomputeInvoice(manager: EntityManager, invoiceId: string): Promise<InvoiceState> {
  const [invoice] = (await manager.query(
    'SELECT currency, amount_due, status FROM invoices WHERE id = ?',
    [invoiceId],
  )) as { currency: string; amount_due: string; status: string }[];
  if (!invoice) throw new Error(`invoice ${invoiceId} vanished while locked`);
  const payments = (await manager.query('SELECT id, currency, amount_received FROM payments WHERE invoice_id = ?', [invoiceId])) as {
    id: string;
    currency: string | null;
    amount_received: string;
  }[];
  const ids = payments.map((p) => p.id);
  const byPayment = async <T>(sql: string): Promise<T[]> => (ids.length ? ((await manager.query(sql, [ids])) as T[]) : []);

  const charges = await byPayment<{ id: string; payment_id: string; currency: string; amount_captured: string; amount_refunded: string; succeeded: number }>(
    'SELECT id, payment_id, currency, amount_captured, amount_refunded, succeeded FROM charges WHERE payment_id IN (?)',
  );
  const refunds = await byPayment<{ id: string; payment_id: string; charge_id: string | null; currency: string; amount: string; status: string }>(
    'SELECT id, payment_id, charge_id, currency, amount, status FROM refunds WHERE payment_id IN (?)',
  );
  const disputes = await byPayment<{ id: string; payment_id: string; currency: string; amount: string; status: string }>(
    'SELECT id, payment_id, currency, amount, status FROM disputes WHERE payment_id IN (?)',
  );

  const facts: InvoiceFacts = {
    currency: invoice.currency,
    amountDue: Number(invoice.amount_due),
    voided: invoice.status === 'void',
    payments: payments.map((p) => ({ id: p.id, currency: p.currency, amountReceived: Number(p.amount_received) })),
    charges: charges.map((c) => ({
      id: c.id,
      paymentId: c.payment_id,
      currency: c.currency,
      amountCaptured: Number(c.amount_captured),
      amountRefunded: Number(c.amount_refunded),
      succeeded: Boolean(c.succeeded),
    })),
    refunds: refunds.map((r) => ({ id: r.id, paymentId: r.payment_id, chargeId: r.charge_id, currency: r.currency, amount: Number(r.amount), status: r.status })),
    disputes: disputes.map((d) => ({ id: d.id, paymentId: d.payment_id, currency: d.currency, amount: Number(d.amount), status: d.status })),
  };
  const state = deriveInvoiceState(facts);
  await manager.query(
    'UPDATE invoices SET amount_paid = ?, amount_refunded = ?, amount_disputed = ?, status = ?, review_reason = ? WHERE id = ?',
    [state.amountPaid, state.amountRefunded, state.amountDisputed, state.status, state.reviewReason, invoiceId],
  );
  return state;
}
