import type { DataSource } from 'typeorm';
import { AppError, echo } from '../shared/errors.js';
import { minorUnitDigits } from '../billing/currencies.js';
import type { PayoutsQuery } from './reconciliation.schema.js';
import { ITEM_JOINS, RESOLVED_PAYMENT_SQL, SAME_ACCOUNT_PAYMENT, toPayoutFacts, withRepayments, type PayoutRow } from './reconciliation-facts.js';
import { isoDate, payoutDifference, payoutReconciled } from './invoice-reconciliation.js';

/**
 * How far the payout ties out: `ties_out` when its transactions' net equals its
 * amount; `not_fetched` until payout.paid has had its items fetched;
 * `not_applicable` for manual payouts, which Stripe cannot list by payout.
 */
function tieOut(row: PayoutRow, difference: number | null): string {
  if (difference !== null) return difference === 0 ? 'ties_out' : 'does_not_tie_out';
  if (row.items_status === 'failed') return 'fetch_failed';
  if (row.items_status === 'not_applicable') return 'not_applicable';
  return 'not_fetched';
}

function summary(row: PayoutRow, repaidBy: string | null) {
  const facts = toPayoutFacts(row);
  const difference = payoutDifference(facts);
  return {
    id: row.id,
    accountId: row.account_id,
    amount: facts.amount,
    currency: row.currency,
    minorUnitDigits: minorUnitDigits(row.currency),
    status: row.status,
    arrivalDate: isoDate(facts.arrivalDate),
    createdAt: new Date(Number(row.stripe_created) * 1000).toISOString(),
    automatic: Boolean(row.automatic),
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    // A failed or canceled payout's money, returned to the balance, went out again in this payout.
    repaidBy,
    stripeReconciliationStatus: row.stripe_reconciliation_status,
    itemsStatus: row.items_status,
    itemsFetchedAt: row.items_fetched_at ? row.items_fetched_at.toISOString() : null,
    itemsError: row.items_error,
    itemCount: row.items_count === null ? null : Number(row.items_count),
    itemsNet: facts.itemsFetched ? facts.itemsNet : null,
    difference,
    tieOut: tieOut(row, difference),
    reconciled: payoutReconciled(facts),
  };
}

interface ItemRow {
  id: string;
  type: string;
  reporting_category: string | null;
  description: string | null;
  amount: string;
  fee: string;
  net: string;
  currency: string;
  source_id: string | null;
  charge_id: string | null;
  refund_id: string | null;
  dispute_id: string | null;
  resolved_payment_id: string | null;
  invoice_id: string | null;
  invoice_number: string | null;
  available_on: string | null;
  stripe_created: string;
}

/** Payouts as they landed in the bank, each with the balance transactions it carried. */
export function createPayoutsService(deps: { dataSource: DataSource }) {
  const { dataSource } = deps;

  /** `onlyAccount` (here and in get): a token confined to one merchant account sees that account's payouts only. */
  async function list(query: PayoutsQuery, onlyAccount?: string) {
    const conditions: [string, unknown[]][] = [];
    if (onlyAccount) conditions.push(['account_id = ?', [onlyAccount]]);
    if (query.status) conditions.push(['status = ?', [query.status]]);
    if (query.currency) conditions.push(['currency = ?', [query.currency]]);
    if (query.from) conditions.push(['arrival_date >= ?', [Date.parse(query.from) / 1000]]);
    if (query.to) conditions.push(['arrival_date < ?', [Date.parse(query.to) / 1000 + 86_400]]);
    if (query.cursor) {
      const [arrival, ...id] = query.cursor.split('_');
      conditions.push(['(arrival_date < ? OR (arrival_date = ? AND id < ?))', [Number(arrival), Number(arrival), id.join('_')]]);
    }
    const rows = (await dataSource.query(
      `SELECT * FROM payouts ${conditions.length ? `WHERE ${conditions.map(([sql]) => sql).join(' AND ')}` : ''}
        ORDER BY arrival_date DESC, id DESC LIMIT ?`,
      [...conditions.flatMap(([, params]) => params), query.limit + 1],
    )) as PayoutRow[];
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const repaid = await withRepayments(dataSource, page);
    return {
      data: page.map((row) => summary(row, repaid.get(row.id)?.repaidBy ?? null)),
      nextCursor: rows.length > query.limit && last ? `${last.arrival_date}_${last.id}` : null,
    };
  }

  async function get(id: string, onlyAccount?: string) {
    const [row] = (await dataSource.query('SELECT * FROM payouts WHERE id = ? AND (? IS NULL OR account_id = ?)', [id, onlyAccount ?? null, onlyAccount ?? null])) as PayoutRow[];
    if (!row) throw new AppError(404, 'payout_not_found', `No payout "${echo(id)}": ids look like po_… and arrive with payout.* events from Stripe.`);
    const history = (await dataSource.query(
      'SELECT status, event_id, event_created FROM payout_status_history WHERE payout_id = ? ORDER BY event_created, status',
      [id],
    )) as { status: string; event_id: string; event_created: string }[];
    const items = (await dataSource.query(
      `SELECT i.id, i.type, i.reporting_category, i.description, i.amount, i.fee, i.net, i.currency, i.source_id, i.charge_id, i.refund_id,
              i.dispute_id, ${RESOLVED_PAYMENT_SQL} AS resolved_payment_id, p.invoice_id, inv.number AS invoice_number, i.available_on, i.stripe_created
         FROM payout_items i ${ITEM_JOINS}
         LEFT JOIN payments p ON p.id = ${RESOLVED_PAYMENT_SQL} AND ${SAME_ACCOUNT_PAYMENT}
         LEFT JOIN invoices inv ON inv.id = p.invoice_id
        WHERE i.payout_id = ?
        ORDER BY i.stripe_created, i.id`,
      [id],
    )) as ItemRow[];
    const repaid = await withRepayments(dataSource, [row]);
    return {
      ...summary(row, repaid.get(row.id)?.repaidBy ?? null),
      history: history.map((h) => ({ status: h.status, eventId: h.event_id, at: new Date(Number(h.event_created) * 1000).toISOString() })),
      items: items.map((i) => ({
        id: i.id,
        type: i.type,
        reportingCategory: i.reporting_category,
        description: i.description,
        amount: Number(i.amount),
        fee: Number(i.fee),
        net: Number(i.net),
        currency: i.currency,
        sourceId: i.source_id,
        chargeId: i.charge_id,
        refundId: i.refund_id,
        disputeId: i.dispute_id,
        paymentId: i.resolved_payment_id,
        invoiceId: i.invoice_id,
        invoiceNumber: i.invoice_number,
        availableOn: i.available_on === null ? null : isoDate(Number(i.available_on)),
        createdAt: new Date(Number(i.stripe_created) * 1000).toISOString(),
      })),
    };
  }

  return { list, get };
}

export type PayoutsService = ReturnType<typeof createPayoutsService>;
