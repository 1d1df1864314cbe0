import type { DataSource, EntityManager } from 'typeorm';
import type { ItemFacts, PayoutFacts } from './invoice-reconciliation.js';

type Queryable = Pick<DataSource | EntityManager, 'query'>;

export interface PaymentFacts {
  id: string;
  invoiceId: string | null;
  unmatchedReason: string | null;
  currency: string | null;
  amount: number | null;
  amountReceived: number;
  createdAt: Date;
  gateway: 'stripe' | 'paypal';
  /** PayPal's capture breakdown; null for Stripe's and until known. */
  fee: number | null;
  net: number | null;
}

export interface FactsByPayment {
  payments: PaymentFacts[];
  charges: { id: string; paymentId: string; currency: string; amountCaptured: number; amountRefunded: number; succeeded: boolean }[];
  refunds: { id: string; paymentId: string; currency: string; amount: number; status: string; fee: number | null; net: number | null }[];
  disputes: { id: string; paymentId: string; currency: string; amount: number; status: string }[];
  /** Items keyed to the payment whose money they moved (`paymentId` resolved through the stored facts). */
  items: ItemFacts[];
  payouts: Map<string, PayoutFacts>;
}

interface ItemRow {
  id: string;
  payout_id: string;
  resolved_payment_id: string | null;
  charge_id: string | null;
  refund_id: string | null;
  dispute_id: string | null;
  type: string;
  reporting_category: string | null;
  amount: string;
  fee: string;
  net: string;
  currency: string;
}

export const toItem = (row: ItemRow): ItemFacts => ({
  id: row.id,
  payoutId: row.payout_id,
  paymentId: row.resolved_payment_id,
  chargeId: row.charge_id,
  refundId: row.refund_id,
  disputeId: row.dispute_id,
  type: row.type,
  reportingCategory: row.reporting_category,
  amount: Number(row.amount),
  fee: Number(row.fee),
  net: Number(row.net),
  currency: row.currency,
});

export interface PayoutRow {
  id: string;
  account_id: string | null;
  amount: string;
  currency: string;
  status: string;
  arrival_date: string;
  automatic: number;
  failure_code: string | null;
  failure_message: string | null;
  failure_balance_transaction_id: string | null;
  items_status: string;
  items_fetched_gen: number;
  items_count: number | null;
  items_net: string | null;
  items_error: string | null;
  items_fetched_at: Date | null;
  stripe_reconciliation_status: string | null;
  stripe_created: string;
}

export const toPayoutFacts = (row: PayoutRow): PayoutFacts => ({
  id: row.id,
  amount: Number(row.amount),
  currency: row.currency,
  status: row.status,
  arrivalDate: Number(row.arrival_date),
  failureCode: row.failure_code,
  failureMessage: row.failure_message,
  repaidBy: null,
  itemsStatus: row.items_status,
  itemsFetched: Number(row.items_fetched_gen) > 0,
  itemsNet: row.items_net === null ? null : Number(row.items_net),
});

/**
 * The payment a payout item moved money for: the one its stored charge, refund
 * or dispute belongs to (what the event handlers decided), else the one its
 * expanded source named. Resolved when read, so an item stored before its
 * payment's events arrived links once they do.
 */
export const RESOLVED_PAYMENT_SQL = 'COALESCE(c.payment_id, r.payment_id, d.payment_id, i.payment_id)';
/**
 * A payout's items come from its own account's Stripe API; the facts they join are only that
 * account's: a fact id another merchant recorded first (by signing an event about it for its own
 * endpoint) must not pull the payout's money into that merchant's invoices.
 */
export const ITEM_JOINS = `JOIN payouts po ON po.id = i.payout_id
  LEFT JOIN charges c ON c.id = i.charge_id AND c.account_scope = COALESCE(po.account_id, '')
  LEFT JOIN refunds r ON r.id = i.refund_id AND r.account_scope = COALESCE(po.account_id, '')
  LEFT JOIN disputes d ON d.id = i.dispute_id AND d.account_scope = COALESCE(po.account_id, '')`;
/** The item's payment (`p`), when it is the payout's account's (see ITEM_JOINS). */
export const SAME_ACCOUNT_PAYMENT = "COALESCE(p.account_id, '') = COALESCE(po.account_id, '')";

const minor = (value: string | null) => (value === null ? null : Number(value));

/** Every fact about `paymentIds` that reconciliation needs, in a fixed number of indexed queries. */
export async function loadFactsForPayments(db: Queryable, paymentIds: string[]): Promise<FactsByPayment> {
  if (paymentIds.length === 0) return { payments: [], charges: [], refunds: [], disputes: [], items: [], payouts: new Map() };
  const payments = ((await db.query(
    'SELECT id, gateway, invoice_id, unmatched_reason, currency, amount, amount_received, fee, net, created_at FROM payments WHERE id IN (?)',
    [paymentIds],
  )) as {
    id: string;
    gateway: string;
    invoice_id: string | null;
    unmatched_reason: string | null;
    currency: string | null;
    amount: string | null;
    amount_received: string;
    fee: string | null;
    net: string | null;
    created_at: Date;
  }[]).map((p) => ({
    id: p.id,
    invoiceId: p.invoice_id,
    unmatchedReason: p.unmatched_reason,
    currency: p.currency,
    amount: p.amount === null ? null : Number(p.amount),
    amountReceived: Number(p.amount_received),
    createdAt: p.created_at,
    gateway: p.gateway === 'paypal' ? ('paypal' as const) : ('stripe' as const),
    fee: minor(p.fee),
    net: minor(p.net),
  }));
  const charges = ((await db.query('SELECT id, payment_id, currency, amount_captured, amount_refunded, succeeded FROM charges WHERE payment_id IN (?)', [paymentIds])) as {
    id: string;
    payment_id: string;
    currency: string;
    amount_captured: string;
    amount_refunded: string;
    succeeded: number;
  }[]).map((c) => ({
    id: c.id,
    paymentId: c.payment_id,
    currency: c.currency,
    amountCaptured: Number(c.amount_captured),
    amountRefunded: Number(c.amount_refunded),
    succeeded: Boolean(c.succeeded),
  }));
  const refunds = ((await db.query('SELECT id, payment_id, currency, amount, status, fee, net FROM refunds WHERE payment_id IN (?)', [paymentIds])) as {
    id: string;
    payment_id: string;
    currency: string;
    amount: string;
    status: string;
    fee: string | null;
    net: string | null;
  }[]).map((r) => ({ id: r.id, paymentId: r.payment_id, currency: r.currency, amount: Number(r.amount), status: r.status, fee: minor(r.fee), net: minor(r.net) }));
  const disputes = ((await db.query('SELECT id, payment_id, currency, amount, status FROM disputes WHERE payment_id IN (?)', [paymentIds])) as {
    id: string;
    payment_id: string;
    currency: string;
    amount: string;
    status: string;
  }[]).map((d) => ({ id: d.id, paymentId: d.payment_id, currency: d.currency, amount: Number(d.amount), status: d.status }));

  // Each branch walks one index (items by payment, or by the payment's charges, refunds, disputes).
  const columns = `i.id, i.payout_id, ${RESOLVED_PAYMENT_SQL} AS resolved_payment_id, i.charge_id, i.refund_id, i.dispute_id, i.type, i.reporting_category, i.amount, i.fee, i.net, i.currency`;
  const itemRows = (await db.query(
    `SELECT ${columns} FROM payout_items i ${ITEM_JOINS} JOIN payments p ON p.id = i.payment_id AND ${SAME_ACCOUNT_PAYMENT} WHERE i.payment_id IN (?)
     UNION SELECT ${columns} FROM payout_items i ${ITEM_JOINS} WHERE c.payment_id IN (?)
     UNION SELECT ${columns} FROM payout_items i ${ITEM_JOINS} WHERE r.payment_id IN (?)
     UNION SELECT ${columns} FROM payout_items i ${ITEM_JOINS} WHERE d.payment_id IN (?)`,
    [paymentIds, paymentIds, paymentIds, paymentIds],
  )) as ItemRow[];
  const items = [...new Map(itemRows.map((row) => [row.id, toItem(row)])).values()];

  const payoutIds = [...new Set(items.map((i) => i.payoutId))];
  const payoutRows = payoutIds.length ? ((await db.query('SELECT * FROM payouts WHERE id IN (?)', [payoutIds])) as PayoutRow[]) : [];
  return { payments, charges, refunds, disputes, items, payouts: await withRepayments(db, payoutRows) };
}

/** Transaction types by which Stripe returns a failed (or canceled) payout's money to the balance. */
export const PAYOUT_RETURN_TYPES = ['payout_failure', 'payout_cancel'];

/**
 * The payouts, each failed or canceled one with the later payout that paid its money out again.
 * When a payout fails, Stripe returns its funds to the balance as a `payout_failure` transaction
 * (the payout's `failure_balance_transaction`, its source the failed payout); a later payout
 * carries that transaction, and with it every transaction the failed payout had carried. Followed
 * through chains (the later payout failing too), only within the failed payout's account.
 */
export async function withRepayments(db: Queryable, rows: PayoutRow[]): Promise<Map<string, PayoutFacts>> {
  const payouts = new Map(rows.map((p) => [p.id, toPayoutFacts(p)]));
  let pending = rows;
  for (let depth = 0; depth < 5 && pending.length; depth++) {
    const failed = pending.filter((p) => p.status === 'failed' || p.status === 'canceled');
    if (failed.length === 0) break;
    const returnIds = failed.map((p) => p.failure_balance_transaction_id).filter((id): id is string => !!id);
    const found = (await db.query(
      `SELECT i.id, i.source_id, i.payout_id, po.account_id FROM payout_items i JOIN payouts po ON po.id = i.payout_id
        WHERE i.type IN (?) AND i.source_id IN (?)
       UNION SELECT i.id, i.source_id, i.payout_id, po.account_id FROM payout_items i JOIN payouts po ON po.id = i.payout_id WHERE i.id IN (?)`,
      [PAYOUT_RETURN_TYPES, failed.map((p) => p.id), returnIds.length ? returnIds : ['']],
    )) as { id: string; source_id: string | null; payout_id: string; account_id: string | null }[];
    const repaying: string[] = [];
    for (const p of failed) {
      const hit = found.find(
        (f) => (f.id === p.failure_balance_transaction_id || f.source_id === p.id) && f.payout_id !== p.id && (f.account_id ?? '') === (p.account_id ?? ''),
      );
      if (!hit) continue;
      payouts.get(p.id)!.repaidBy = hit.payout_id;
      if (!payouts.has(hit.payout_id)) repaying.push(hit.payout_id);
    }
    const more = repaying.length ? ((await db.query('SELECT * FROM payouts WHERE id IN (?)', [[...new Set(repaying)]])) as PayoutRow[]) : [];
    for (const row of more) payouts.set(row.id, toPayoutFacts(row));
    pending = more;
  }
  return payouts;
}

/** The facts of one group of payments (an invoice's, or one unmatched payment). */
export function factsFor(all: FactsByPayment, paymentIds: Set<string>) {
  const charges = all.charges.filter((c) => paymentIds.has(c.paymentId));
  return {
    payments: all.payments.filter((p) => paymentIds.has(p.id)),
    charges,
    refunds: all.refunds.filter((r) => paymentIds.has(r.paymentId)),
    disputes: all.disputes.filter((d) => paymentIds.has(d.paymentId)),
    items: all.items.filter((i) => i.paymentId !== null && paymentIds.has(i.paymentId)),
    payouts: all.payouts,
  };
}
