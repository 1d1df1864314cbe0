import type { Tx } from '../db/folded-transaction';
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
  manager: Tx,
  paymentId: string,
  origin: { accountId: string | null; livemode: boolean },
): Promise<PaymentRow> {
  // One round trip for both statements (multipleStatements): the second result is the row.
  const [, rows] = (await manager.query('INSERT IGNORE INTO payments (id, account_id, livemode) VALUES (?, ?, ?); SELECT * FROM payments WHERE id = ? FOR UPDATE', [
    paymentId,
    origin.accountId,
    origin.livemode,
    paymentId,
  ])) as [unknown, PaymentRow[]];
  return normalise(rows[0]!);
}

const normalise = (row: PaymentRow): PaymentRow => ({
  ...row,
  amount: row.amount === null ? null : Number(row.amount),
  amount_received: Number(row.amount_received),
  status_event_created: Number(row.status_event_created),
});

/** The locked invoice row: what re-deriving its state needs, read once with the lock. */
export interface LockedInvoice {
  id: string;
  account_id: string | null;
  currency: string;
  amount_due: string;
  status: string;
}

export type InvoiceLink = { invoice: LockedInvoice } | { invoice: null; unmatchedReason: string };

/**
 * Which invoice a payment belongs to. A payment, once linked, stays on its
 * invoice: a later event naming another invoice does not move the money.
 * The invoice row is locked (FOR UPDATE) when found.
 */
export async function linkInvoice(
  manager: Tx,
  payment: PaymentRow,
  referencedInvoiceId: string | null | undefined,
  accountId: string | null,
): Promise<InvoiceLink> {
  if (payment.invoice_id) {
    const invoice = await lockInvoice(manager, payment.invoice_id);
    if (!invoice) throw new Error(`invoice ${payment.invoice_id} of payment ${payment.id} does not exist`);
    return { invoice };
  }
  if (!referencedInvoiceId) {
    if (payment.unmatched_reason) return { invoice: null, unmatchedReason: payment.unmatched_reason };
    await manager.query('UPDATE payments SET unmatched_reason = ? WHERE id = ?', ['no_invoice_reference', payment.id]);
    return { invoice: null, unmatchedReason: 'no_invoice_reference' };
  }
  const invoice = await lockInvoice(manager, referencedInvoiceId);
  const reason = !invoice ? 'invoice_not_found' : invoice.account_id !== accountId ? 'account_mismatch' : null;
  if (!invoice || reason) {
    await manager.query('UPDATE payments SET unmatched_reason = ? WHERE id = ?', [reason, payment.id]);
    return { invoice: null, unmatchedReason: reason ?? 'invoice_not_found' };
  }
  await manager.query('UPDATE payments SET invoice_id = ?, unmatched_reason = NULL WHERE id = ?', [referencedInvoiceId, payment.id]);
  payment.invoice_id = referencedInvoiceId;
  return { invoice };
}

async function lockInvoice(manager: Tx, invoiceId: string): Promise<LockedInvoice | undefined> {
  const [row] = (await manager.query('SELECT id, account_id, currency, amount_due, status FROM invoices WHERE id = ? FOR UPDATE', [
    invoiceId,
  ])) as LockedInvoice[];
  return row;
}

/** One row per fact of an invoice, all kinds in one round trip (see `FACTS_SQL`). */
interface FactRow {
  kind: 'payment' | 'charge' | 'refund' | 'dispute';
  id: string;
  payment_id: string;
  charge_id: string | null;
  currency: string | null;
  amount: string;
  amount_refunded: string | null;
  status: string | null;
  succeeded: number | null;
}

const FACTS_SQL = `
  SELECT 'payment' AS kind, p.id, p.id AS payment_id, NULL AS charge_id, p.currency, p.amount_received AS amount,
         NULL AS amount_refunded, NULL AS status, NULL AS succeeded
    FROM payments p WHERE p.invoice_id = ?
  UNION ALL
  SELECT 'charge', c.id, c.payment_id, NULL, c.currency, c.amount_captured, c.amount_refunded, NULL, c.succeeded
    FROM charges c JOIN payments p ON p.id = c.payment_id WHERE p.invoice_id = ?
  UNION ALL
  SELECT 'refund', r.id, r.payment_id, r.charge_id, r.currency, r.amount, NULL, r.status, NULL
    FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE p.invoice_id = ?
  UNION ALL
  SELECT 'dispute', d.id, d.payment_id, NULL, d.currency, d.amount, NULL, d.status, NULL
    FROM disputes d JOIN payments p ON p.id = d.payment_id WHERE p.invoice_id = ?`;

/** Re-derives the invoice's totals and status from all its facts; the caller holds the invoice lock. */
export async function recomputeInvoice(
  manager: Tx,
  invoice: LockedInvoice,
  defer: (sql: string, params: unknown[]) => void,
): Promise<InvoiceState> {
  const rows = (await manager.query(FACTS_SQL, [invoice.id, invoice.id, invoice.id, invoice.id])) as FactRow[];
  const of = (kind: FactRow['kind']) => rows.filter((row) => row.kind === kind);
  const facts: InvoiceFacts = {
    currency: invoice.currency,
    amountDue: Number(invoice.amount_due),
    voided: invoice.status === 'void',
    payments: of('payment').map((p) => ({ id: p.id, currency: p.currency, amountReceived: Number(p.amount) })),
    charges: of('charge').map((c) => ({
      id: c.id,
      paymentId: c.payment_id,
      currency: c.currency ?? '',
      amountCaptured: Number(c.amount),
      amountRefunded: Number(c.amount_refunded),
      succeeded: Boolean(c.succeeded),
    })),
    refunds: of('refund').map((r) => ({ id: r.id, paymentId: r.payment_id, chargeId: r.charge_id, currency: r.currency ?? '', amount: Number(r.amount), status: r.status ?? '' })),
    disputes: of('dispute').map((d) => ({ id: d.id, paymentId: d.payment_id, currency: d.currency ?? '', amount: Number(d.amount), status: d.status ?? '' })),
  };
  const state = deriveInvoiceState(facts);
  // Nothing later in the transaction reads the invoice row, so the write rides with the event's status update.
  defer('UPDATE invoices SET amount_paid = ?, amount_refunded = ?, amount_disputed = ?, status = ?, review_reason = ? WHERE id = ?', [
    state.amountPaid,
    state.amountRefunded,
    state.amountDisputed,
    state.status,
    state.reviewReason,
    invoice.id,
  ]);
  return state;
}
