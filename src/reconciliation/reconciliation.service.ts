import type { DataSource } from 'typeorm';
import type { InvoiceRow as FullInvoiceRow } from '../billing/invoice.row.js';
import { minorUnitDigits } from '../billing/currencies.js';
import { endOf, type ReconciliationQuery } from './reconciliation.schema.js';
import { factsFor, loadFactsForPayments } from './reconciliation-facts.js';
import { attentionRank, reconcileInvoice, RECONCILIATION_STATES, type InvoiceReconciliation, type ReconciliationState } from './invoice-reconciliation.js';

/** The columns reconciliation reads. */
type InvoiceRow = Pick<
  FullInvoiceRow,
  'seq' | 'id' | 'account_id' | 'number' | 'currency' | 'amount_due' | 'amount_paid' | 'amount_refunded' | 'amount_disputed' | 'status' | 'customer_name' | 'created_at'
>;

export interface InvoiceReconciliationRow extends InvoiceReconciliation {
  id: string;
  number: string;
  accountId: string | null;
  customerName: string;
  createdAt: string;
  currency: string;
  status: string;
  amountDue: number;
  amountPaid: number;
  amountRefunded: number;
  amountDisputed: number;
}

export interface UnmatchedPaymentRow {
  id: string;
  unmatchedReason: string | null;
  createdAt: string;
  currency: string | null;
  amount: number | null;
  amountReceived: number;
  gross: number;
  fees: number;
  net: number;
  settlementCurrency: string | null;
  payouts: InvoiceReconciliation['payouts'];
  gateway: 'stripe' | 'paypal';
  /** Where its money is settled: a Stripe payout, or the PayPal balance. */
  settlement: InvoiceReconciliation['payments'][number]['settlement'];
  paypal: InvoiceReconciliation['paypal'];
}

/**
 * One gateway's money in one currency over the selected invoices, side by side with the other's:
 * Stripe's from its balance transactions (in the currency they settled in), PayPal's from its
 * breakdowns (in the capture's currency). An invoice paid through both counts in both.
 */
export interface GatewayTotals {
  gateway: 'stripe' | 'paypal';
  currency: string;
  minorUnitDigits: number;
  settlement: InvoiceReconciliation['payments'][number]['settlement'];
  invoices: number;
  gross: number;
  fees: number;
  net: number;
}

export interface CurrencyTotals {
  currency: string;
  minorUnitDigits: number;
  invoices: number;
  amountDue: number;
  amountPaid: number;
  amountRefunded: number;
  amountDisputed: number;
  /** Fees and net of the balance transactions settled in this currency, whatever the invoice's currency. */
  fees: number;
  net: number;
  reconciliation: Record<ReconciliationState, number>;
}

const CHUNK = 500;

/** Accountants' view: each invoice against the payouts that carried its money. */
export function createReconciliationService(deps: { dataSource: DataSource }) {
  const { dataSource } = deps;

  /** Reconciles `invoices` with a fixed number of queries for the whole chunk. */
  async function reconcileChunk(invoices: InvoiceRow[]): Promise<InvoiceReconciliationRow[]> {
    if (invoices.length === 0) return [];
    const links = (await dataSource.query('SELECT id, invoice_id FROM payments WHERE invoice_id IN (?)', [invoices.map((i) => i.id)])) as {
      id: string;
      invoice_id: string;
    }[];
    const all = await loadFactsForPayments(dataSource, links.map((l) => l.id));
    return invoices.map((invoice) => {
      const facts = factsFor(all, new Set(links.filter((l) => l.invoice_id === invoice.id).map((l) => l.id)));
      const reconciliation = reconcileInvoice({
        ...facts,
        currency: invoice.currency,
        amountDue: Number(invoice.amount_due),
        amountPaid: Number(invoice.amount_paid),
        amountRefunded: Number(invoice.amount_refunded),
      });
      return {
        id: invoice.id,
        number: invoice.number,
        accountId: invoice.account_id,
        customerName: invoice.customer_name,
        createdAt: invoice.created_at.toISOString(),
        currency: invoice.currency,
        status: invoice.status,
        amountDue: Number(invoice.amount_due),
        amountPaid: Number(invoice.amount_paid),
        amountRefunded: Number(invoice.amount_refunded),
        amountDisputed: Number(invoice.amount_disputed),
        ...reconciliation,
      };
    });
  }

  /**
   * Every invoice the filters select, newest first, reconciled a chunk at a time (memory stays bounded).
   * `onlyAccount` (here and below): a token confined to one merchant account sees that account's rows only.
   */
  async function* scanInvoices(query: ReconciliationQuery, order: 'newest' | 'oldest' = 'newest', onlyAccount?: string): AsyncGenerator<InvoiceReconciliationRow> {
    const conditions: [string, unknown][] = [];
    if (onlyAccount) conditions.push(['account_scope = ?', onlyAccount]);
    if (query.status) conditions.push(['status = ?', query.status]);
    if (query.currency) conditions.push(['currency = ?', query.currency]);
    if (query.from) conditions.push(['created_at >= ?', new Date(query.from)]);
    if (query.to) conditions.push(['created_at < ?', endOf(query.to)]);
    const desc = order === 'newest';
    let cursor: string | null = null;
    for (;;) {
      const where = [...conditions.map(([sql]) => sql), ...(cursor ? [desc ? 'seq < ?' : 'seq > ?'] : [])];
      const params = [...conditions.map(([, value]) => value), ...(cursor ? [cursor] : [])];
      const rows = (await dataSource.query(
        `SELECT seq, id, account_id, number, currency, amount_due, amount_paid, amount_refunded, amount_disputed, status, customer_name, created_at
           FROM invoices ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT ?`,
        [...params, CHUNK],
      )) as InvoiceRow[];
      for (const row of await reconcileChunk(rows)) {
        if (!query.reconciliation || row.reconciliation === query.reconciliation) yield row;
      }
      if (rows.length < CHUNK) return;
      cursor = String(rows[rows.length - 1]!.seq);
    }
  }

  /** Payments that reached no invoice but moved money, with what Stripe paid out for them. */
  async function* scanUnmatchedPayments(query: ReconciliationQuery, onlyAccount?: string): AsyncGenerator<UnmatchedPaymentRow> {
    const conditions: [string, unknown][] = [
      ['invoice_id IS NULL', undefined],
      ['(amount_received > 0 OR EXISTS (SELECT 1 FROM charges c WHERE c.payment_id = payments.id AND c.succeeded = 1))', undefined],
    ];
    if (onlyAccount) conditions.push(['account_id = ?', onlyAccount]);
    if (query.currency) conditions.push(['currency = ?', query.currency]);
    if (query.from) conditions.push(['created_at >= ?', new Date(query.from)]);
    if (query.to) conditions.push(['created_at < ?', endOf(query.to)]);
    let after = '';
    for (;;) {
      const rows = (await dataSource.query(
        `SELECT id FROM payments WHERE ${conditions.map(([sql]) => sql).join(' AND ')} AND id > ? ORDER BY id LIMIT ?`,
        [...conditions.filter(([, v]) => v !== undefined).map(([, v]) => v), after, CHUNK],
      )) as { id: string }[];
      if (rows.length === 0) return;
      const all = await loadFactsForPayments(dataSource, rows.map((r) => r.id));
      for (const payment of all.payments.sort((a, b) => a.id.localeCompare(b.id))) {
        const facts = factsFor(all, new Set([payment.id]));
        const figures = reconcileInvoice({ ...facts, currency: payment.currency ?? '', amountDue: 0, amountPaid: 0 });
        yield {
          id: payment.id,
          unmatchedReason: payment.unmatchedReason,
          createdAt: payment.createdAt.toISOString(),
          currency: payment.currency,
          amount: payment.amount,
          amountReceived: Math.max(payment.amountReceived, facts.charges.filter((c) => c.succeeded).reduce((a, c) => a + c.amountCaptured, 0)),
          gross: figures.gross,
          fees: figures.fees,
          net: figures.net,
          settlementCurrency: figures.settlementCurrency,
          payouts: figures.payouts,
          gateway: payment.gateway,
          settlement: payment.gateway === 'paypal' ? 'in_paypal_balance' : 'stripe_payout',
          paypal: figures.paypal,
        };
      }
      if (rows.length < CHUNK) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  function addToTotals(totals: Map<string, CurrencyTotals>, row: InvoiceReconciliationRow): void {
    const entryFor = (currency: string): CurrencyTotals => {
      let entry = totals.get(currency);
      if (!entry) {
        entry = {
          currency,
          minorUnitDigits: minorUnitDigits(currency),
          invoices: 0,
          amountDue: 0,
          amountPaid: 0,
          amountRefunded: 0,
          amountDisputed: 0,
          fees: 0,
          net: 0,
          reconciliation: { unpaid: 0, awaiting_payout: 0, reconciled: 0, discrepancy: 0 },
        };
        totals.set(currency, entry);
      }
      return entry;
    };
    const entry = entryFor(row.currency);
    entry.invoices++;
    entry.amountDue += row.amountDue;
    entry.amountPaid += row.amountPaid;
    entry.amountRefunded += row.amountRefunded;
    entry.amountDisputed += row.amountDisputed;
    entry.reconciliation[row.reconciliation]++;
    // Fees and net are in the currency the money settled in (a EUR invoice paid out in USD counts in
    // USD), so each currency's net adds up to what its payouts carried.
    const settled = entryFor(row.settlementCurrency ?? row.currency);
    settled.fees += row.fees;
    settled.net += row.net;
  }

  function addToGatewayTotals(totals: Map<string, GatewayTotals>, row: InvoiceReconciliationRow): void {
    const parts = [
      row.stripe && { gateway: 'stripe' as const, settlement: 'stripe_payout' as const, currency: row.stripe.settlementCurrency ?? row.currency, ...row.stripe },
      row.paypal && { gateway: 'paypal' as const, ...row.paypal },
    ];
    for (const part of parts) {
      if (!part) continue;
      const key = `${part.gateway} ${part.currency}`;
      let entry = totals.get(key);
      if (!entry) {
        entry = { gateway: part.gateway, currency: part.currency, minorUnitDigits: minorUnitDigits(part.currency), settlement: part.settlement, invoices: 0, gross: 0, fees: 0, net: 0 };
        totals.set(key, entry);
      }
      entry.invoices++;
      entry.gross += part.gross;
      entry.fees += part.fees;
      entry.net += part.net;
    }
  }

  /**
   * The JSON report: totals per currency over every selected invoice; the
   * invoices themselves in attention order (discrepancy, awaiting_payout,
   * unpaid, reconciled; newest first within each), at most `limit` of them.
   */
  async function report(query: ReconciliationQuery, onlyAccount?: string) {
    const totals = new Map<string, CurrencyTotals>();
    const gatewayTotals = new Map<string, GatewayTotals>();
    // Only the first `limit` of each state can make the page: memory stays bounded by 4 × limit.
    const byState = new Map<ReconciliationState, InvoiceReconciliationRow[]>(RECONCILIATION_STATES.map((s) => [s, []]));
    let matched = 0;
    for await (const row of scanInvoices(query, 'newest', onlyAccount)) {
      matched++;
      addToTotals(totals, row);
      addToGatewayTotals(gatewayTotals, row);
      const bucket = byState.get(row.reconciliation)!;
      if (bucket.length < query.limit) bucket.push(row);
    }
    const invoices = [...byState.entries()]
      .sort(([a], [b]) => attentionRank(a) - attentionRank(b))
      .flatMap(([, rows]) => rows)
      .slice(0, query.limit);
    const unmatchedPayments: UnmatchedPaymentRow[] = [];
    let unmatchedCount = 0;
    // An invoice filter (status, reconciliation) selects invoices; payments without one are listed only when no such filter is set.
    if (!query.status && !query.reconciliation) {
      for await (const payment of scanUnmatchedPayments(query, onlyAccount)) {
        unmatchedCount++;
        if (unmatchedPayments.length < query.limit) unmatchedPayments.push(payment);
      }
    }
    const currencies = new Set<string>([...totals.keys()]);
    for (const row of [...invoices, ...unmatchedPayments]) {
      for (const c of [row.currency, row.settlementCurrency, row.paypal?.currency, ...row.payouts.map((p) => p.currency)]) if (c) currencies.add(c);
    }
    for (const c of gatewayTotals.values()) currencies.add(c.currency);
    return {
      filters: {
        from: query.from ?? null,
        to: query.to ?? null,
        status: query.status ?? null,
        reconciliation: query.reconciliation ?? null,
        currency: query.currency ?? null,
      },
      totals: [...totals.values()].sort((a, b) => a.currency.localeCompare(b.currency)),
      /** Stripe's and PayPal's money side by side, per currency: where each settled (payouts, the PayPal balance). */
      totalsByGateway: [...gatewayTotals.values()].sort((a, b) => a.currency.localeCompare(b.currency) || a.gateway.localeCompare(b.gateway)),
      invoiceCount: matched,
      truncated: matched > invoices.length,
      invoices,
      unmatchedPaymentCount: unmatchedCount,
      unmatchedPayments,
      /** Digits of each currency's minor unit, to show amounts as decimals. */
      currencyDigits: Object.fromEntries([...currencies].sort().map((c) => [c, minorUnitDigits(c)])),
    };
  }

  /** One invoice's payout figures, for GET /api/invoices/:id. */
  async function forInvoice(invoiceId: string) {
    const [row] = (await dataSource.query(
      `SELECT seq, id, account_id, number, currency, amount_due, amount_paid, amount_refunded, amount_disputed, status, customer_name, created_at
         FROM invoices WHERE id = ?`,
      [invoiceId],
    )) as InvoiceRow[];
    if (!row) return null;
    const [reconciled] = await reconcileChunk([row]);
    return reconciled!;
  }

  /** The payout side of GET /api/invoices/:id: fees and net from the balance transactions, the payouts that carried the money. */
  async function invoiceFigures(invoiceId: string) {
    const row = await forInvoice(invoiceId);
    return {
      fees: row?.fees ?? 0,
      net: row?.net ?? 0,
      settlementCurrency: row?.settlementCurrency ?? null,
      reconciliation: row?.reconciliation ?? 'unpaid',
      discrepancy: row?.discrepancy ?? null,
      payouts: row?.payouts ?? [],
      // PayPal's part, in the PayPal balance (null when PayPal moved none of its money).
      paypal: row?.paypal ?? null,
    };
  }

  return { scanInvoices, scanUnmatchedPayments, report, forInvoice, invoiceFigures };
}

export type ReconciliationService = ReturnType<typeof createReconciliationService>;
