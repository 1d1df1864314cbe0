import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { AppError, echo } from '../shared/errors.js';
import type { CreateInvoiceInput, ListInvoicesQuery } from './invoice.schema.js';
import { createReconciliationService } from '../reconciliation/reconciliation.service.js';
import type { InvoiceRow } from './invoice.row.js';
import { INVOICE_VISIBLE_SQL, invoiceNotFound, visibleParams } from './invoice-errors.js';

const newInvoiceId = () => `inv_${randomBytes(12).toString('hex')}`;

function invoiceSummary(row: InvoiceRow) {
  return {
    id: row.id,
    number: row.number,
    accountId: row.account_id,
    currency: row.currency,
    amountDue: Number(row.amount_due),
    amountPaid: Number(row.amount_paid),
    amountRefunded: Number(row.amount_refunded),
    amountDisputed: Number(row.amount_disputed),
    status: row.status,
    needsReview: row.review_reason !== null,
    reviewReason: row.review_reason,
    customer: { name: row.customer_name, email: row.customer_email },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Invoices: created by the merchant app, then only ever changed by Stripe events (see payment-ledger.ts). */
export function createInvoiceService(deps: { dataSource: DataSource; accountExists: (accountId: string) => Promise<boolean> }) {
  const { dataSource } = deps;
  const reconciliation = createReconciliationService({ dataSource });

  /**
   * `onlyAccount` (a token confined to one merchant account, here and below): the invoice is that
   * account's when the body names none, and any other account is as unknown as a missing one.
   */
  async function create(input: CreateInvoiceInput, onlyAccount?: string) {
    const accountId = input.accountId ?? onlyAccount ?? null;
    if (accountId && ((onlyAccount && accountId !== onlyAccount) || !(await deps.accountExists(accountId)))) {
      const instead = onlyAccount ? `leave accountId out: the invoice is then your token's account's (${onlyAccount})` : 'leave accountId out for the default account';
      throw new AppError(400, 'account_not_found', `No merchant account "${echo(accountId)}": GET /api/accounts lists them, POST /api/accounts creates one; or ${instead}.`, {
        field: 'accountId',
      });
    }
    const id = newInvoiceId();
    try {
      await dataSource.query(
        `INSERT INTO invoices (id, account_id, number, currency, amount_due, customer_name, customer_email) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [id, accountId, input.number, input.currency, input.amountDue, input.customer.name, input.customer.email],
      );
    } catch (error) {
      if ((error as { driverError?: { code?: string } }).driverError?.code === 'ER_DUP_ENTRY') {
        throw new AppError(400, 'number_taken', `Invoice number "${echo(input.number)}" is already used on this account: give each invoice its own number.`, { field: 'number' });
      }
      throw error;
    }
    return get(id);
  }

  async function list(query: ListInvoicesQuery, onlyAccount?: string) {
    const conditions: [string, unknown][] = [];
    if (onlyAccount) conditions.push(['account_scope = ?', onlyAccount]);
    if (query.status) conditions.push(['status = ?', query.status]);
    if (query.from) conditions.push(['created_at >= ?', new Date(query.from)]);
    if (query.to) conditions.push(['created_at < ?', endOf(query.to)]);
    if (query.cursor) conditions.push(['seq < ?', query.cursor]);
    const where = conditions.map(([sql]) => sql);
    const params = conditions.map(([, value]) => value);
    const rows = (await dataSource.query(
      `SELECT * FROM invoices ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`,
      [...params, query.limit + 1],
    )) as InvoiceRow[];
    const page = rows.slice(0, query.limit);
    return { data: page.map(invoiceSummary), nextCursor: rows.length > query.limit ? page[page.length - 1]!.seq.toString() : null };
  }

  async function get(id: string, onlyAccount?: string) {
    const [row] = (await dataSource.query(`SELECT * FROM invoices WHERE id = ? AND ${INVOICE_VISIBLE_SQL}`, [id, ...visibleParams(onlyAccount)])) as InvoiceRow[];
    if (!row) throw invoiceNotFound(id);
    const payments = (await dataSource.query(
      'SELECT id, gateway, status, currency, amount, amount_received, fee, net, created_at FROM payments WHERE invoice_id = ? ORDER BY created_at, id',
      [id],
    )) as { id: string; gateway: string; status: string | null; currency: string | null; amount: string | null; amount_received: string; fee: string | null; net: string | null; created_at: Date }[];
    const ids = payments.map((p) => p.id);
    const rowsFor = async <T>(sql: string) => (ids.length ? ((await dataSource.query(sql, [ids])) as T[]) : []);
    const charges = await rowsFor<{ id: string; payment_id: string; amount: string; amount_captured: string; amount_refunded: string; balance_transaction_id: string | null }>(
      'SELECT id, payment_id, amount, amount_captured, amount_refunded, balance_transaction_id FROM charges WHERE payment_id IN (?) ORDER BY stripe_created, id',
    );
    const failures = await rowsFor<{ event_id: string; payment_id: string; code: string | null; decline_code: string | null; message: string | null; stripe_created: string }>(
      'SELECT * FROM payment_failures WHERE payment_id IN (?) ORDER BY stripe_created, attempt_key',
    );
    const refunds = await rowsFor<{ id: string; gateway: string; payment_id: string; charge_id: string | null; currency: string; amount: string; status: string; reason: string | null; failure_reason: string | null; stripe_created: string; fee: string | null; net: string | null }>(
      'SELECT * FROM refunds WHERE payment_id IN (?) ORDER BY stripe_created, id',
    );
    const disputes = await rowsFor<{ id: string; gateway: string; payment_id: string; charge_id: string; currency: string; amount: string; status: string; reason: string | null; stripe_created: string }>(
      'SELECT * FROM disputes WHERE payment_id IN (?) ORDER BY stripe_created, id',
    );
    const at = (unix: string) => new Date(Number(unix) * 1000).toISOString();
    const minor = (value: string | null) => (value === null ? null : Number(value));

    return {
      ...invoiceSummary(row),
      payments: payments.map((p) => ({
        id: p.id,
        /** `stripe` or `paypal`; a PayPal payment's id is its capture id, its status PayPal's in lower case. */
        gateway: p.gateway,
        paymentIntentId: p.gateway === 'stripe' && p.id.startsWith('pi_') ? p.id : null,
        status: p.status,
        currency: p.currency,
        amount: p.amount === null ? null : Number(p.amount),
        amountReceived: Number(p.amount_received),
        // PayPal's fee and net of the capture (null until PayPal's breakdown arrived); null for Stripe's, whose fees are in its payouts.
        fee: minor(p.fee),
        net: minor(p.net),
        charges: charges
          .filter((c) => c.payment_id === p.id)
          .map((c) => ({
            id: c.id,
            amount: Number(c.amount),
            amountCaptured: Number(c.amount_captured),
            amountRefunded: Number(c.amount_refunded),
            balanceTransactionId: c.balance_transaction_id,
          })),
        failures: failures
          .filter((f) => f.payment_id === p.id)
          .map((f) => ({ eventId: f.event_id, code: f.code, declineCode: f.decline_code, message: f.message, at: at(f.stripe_created) })),
      })),
      refunds: refunds.map((r) => ({
        id: r.id,
        gateway: r.gateway,
        paymentId: r.payment_id,
        chargeId: r.charge_id,
        currency: r.currency,
        amount: Number(r.amount),
        status: r.status,
        reason: r.reason,
        failureReason: r.failure_reason,
        // PayPal's: the fee given back and what left the PayPal balance (null until known; null for Stripe's).
        fee: minor(r.fee),
        net: minor(r.net),
        createdAt: at(r.stripe_created),
      })),
      disputes: disputes.map((d) => ({
        id: d.id,
        gateway: d.gateway,
        paymentId: d.payment_id,
        chargeId: d.charge_id,
        currency: d.currency,
        amount: Number(d.amount),
        status: d.status,
        reason: d.reason,
        createdAt: at(d.stripe_created),
      })),
      // fees, net, settlementCurrency, reconciliation, discrepancy, payouts (with arrival dates)
      ...(await reconciliation.invoiceFigures(id)),
    };
  }

  return { create, list, get };
}

/** `to` is exclusive; a bare date means "through the end of that day". */
function endOf(to: string): Date {
  const date = new Date(to);
  if (/^\d{4}-\d{2}-\d{2}$/.test(to)) date.setUTCDate(date.getUTCDate() + 1);
  return date;
}

export type InvoiceService = ReturnType<typeof createInvoiceService>;
