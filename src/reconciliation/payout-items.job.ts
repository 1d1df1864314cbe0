import type { DataSource } from 'typeorm';
import type Stripe from 'stripe';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { idOf } from '../stripe/objects/fields.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface PayoutItemsResult {
  outcome: 'stored' | 'already_fetched' | 'superseded' | 'not_found';
  items?: number;
  itemsNet?: number;
  difference?: number;
}

interface PayoutRow {
  id: string;
  account_id: string | null;
  amount: string;
  currency: string;
  balance_transaction_id: string | null;
  failure_balance_transaction_id: string | null;
  items_requested_gen: number;
  items_fetched_gen: number;
}

/** The payout's own transactions (its debit, its reversal): not money it carried. */
const PAYOUT_OWN_TYPES = new Set(['payout', 'payout_cancel', 'payout_failure']);

/** Which charge, refund, dispute and payment a balance transaction moves money for, from its (expanded) source. */
export function linksOf(source: Stripe.BalanceTransaction['source']): {
  sourceId: string | null;
  chargeId: string | null;
  refundId: string | null;
  disputeId: string | null;
  paymentId: string | null;
} {
  const links = { sourceId: idOf(source as { id: string } | string | null), chargeId: null as string | null, refundId: null as string | null, disputeId: null as string | null, paymentId: null as string | null };
  if (source && typeof source === 'object') {
    const object = source as { object?: string; id: string; charge?: string | { id: string } | null; payment_intent?: string | { id: string } | null };
    if (object.object === 'charge') {
      links.chargeId = object.id;
      // The same payment id the charge handlers use: the PaymentIntent, or the charge itself without one.
      links.paymentId = idOf(object.payment_intent) ?? object.id;
    } else if (object.object === 'refund' || object.object === 'dispute') {
      if (object.object === 'refund') links.refundId = object.id;
      else links.disputeId = object.id;
      links.chargeId = idOf(object.charge);
      links.paymentId = idOf(object.payment_intent) ?? links.chargeId;
    }
  } else if (links.sourceId) {
    // Not expanded: the id's prefix says what it is; the payment is then found through the stored facts.
    if (/^(ch|py)_/.test(links.sourceId)) links.chargeId = links.sourceId;
    else if (/^(re|pyr)_/.test(links.sourceId)) links.refundId = links.sourceId;
    else if (/^(dp|du)_/.test(links.sourceId)) links.disputeId = links.sourceId;
  }
  return links;
}

const COLUMNS = [
  'id',
  'payout_id',
  'fetch_gen',
  'amount',
  'fee',
  'net',
  'currency',
  'type',
  'reporting_category',
  'description',
  'source_id',
  'charge_id',
  'refund_id',
  'dispute_id',
  'payment_id',
  'available_on',
  'stripe_created',
] as const;

/**
 * The payout-reconciliation job: lists the payout's balance transactions from
 * Stripe page by page (expanded sources), stores them in batches, then settles
 * the fetch. Memory stays bounded by one page plus one batch, whatever the
 * payout's size. Idempotent: items are upserted by txn id, and a fetch that an
 * earlier or later one already settled changes nothing.
 */
export function createPayoutItemsJob(deps: { dataSource: DataSource; stripeClients: StripeClients; logger: Logger; batchSize?: number; pageSize?: number }) {
  const { dataSource, logger } = deps;
  const batchSize = deps.batchSize ?? 500;
  const pageSize = deps.pageSize ?? 100;
  const upsertTail = `ON DUPLICATE KEY UPDATE ${COLUMNS.filter((c) => c !== 'id' && c !== 'fetch_gen')
    .map((c) => `${c} = VALUES(${c})`)
    .join(', ')}, fetch_gen = GREATEST(fetch_gen, VALUES(fetch_gen))`;

  async function insertBatch(rows: unknown[][]): Promise<void> {
    if (rows.length === 0) return;
    const placeholders = rows.map(() => `(${COLUMNS.map(() => '?').join(', ')})`).join(', ');
    await dataSource.query(`INSERT INTO payout_items (${COLUMNS.join(', ')}) VALUES ${placeholders} ${upsertTail}`, rows.flat());
  }

  async function run(payoutId: string, generation: number): Promise<PayoutItemsResult> {
    const [payout] = (await dataSource.query(
      `SELECT id, account_id, amount, currency, balance_transaction_id, failure_balance_transaction_id, items_requested_gen, items_fetched_gen
         FROM payouts WHERE id = ?`,
      [payoutId],
    )) as PayoutRow[];
    if (!payout) return { outcome: 'not_found' };
    if (Number(payout.items_fetched_gen) >= generation) return { outcome: 'already_fetched' };

    const stripe = await deps.stripeClients.forAccount(payout.account_id);
    const started = Date.now();
    const isOwn = (txn: Stripe.BalanceTransaction) => {
      const sourceId = idOf(txn.source as { id: string } | string | null);
      return (
        txn.id === payout.balance_transaction_id ||
        txn.id === payout.failure_balance_transaction_id ||
        (PAYOUT_OWN_TYPES.has(txn.type) && (sourceId === payoutId || (txn.type === 'payout' && sourceId === null)))
      );
    };

    let batch: unknown[][] = [];
    let seen = 0;
    // stripe-node's list is an async iterator that requests the next page (starting_after) only when this one is used up.
    for await (const txn of stripe.balanceTransactions.list({ payout: payoutId, expand: ['data.source'], limit: pageSize })) {
      if (isOwn(txn)) continue;
      const links = linksOf(txn.source);
      batch.push([
        txn.id,
        payoutId,
        generation,
        txn.amount,
        txn.fee,
        txn.net,
        txn.currency,
        txn.type,
        txn.reporting_category ?? null,
        txn.description?.slice(0, 1024) ?? null,
        links.sourceId,
        links.chargeId,
        links.refundId,
        links.disputeId,
        links.paymentId,
        txn.available_on ?? null,
        txn.created,
      ]);
      seen++;
      if (batch.length >= batchSize) {
        await insertBatch(batch);
        batch = [];
      }
    }
    await insertBatch(batch);

    // Settle under the payout's lock: rows an older fetch stored and Stripe no longer lists go; the figures are the table's.
    return dataSource.transaction('READ COMMITTED', async (manager) => {
      const [locked] = (await manager.query('SELECT items_requested_gen, items_fetched_gen, amount FROM payouts WHERE id = ? FOR UPDATE', [payoutId])) as {
        items_requested_gen: number;
        items_fetched_gen: number;
        amount: string;
      }[];
      if (!locked || Number(locked.items_fetched_gen) > generation) return { outcome: 'superseded' as const };
      await manager.query('DELETE FROM payout_items WHERE payout_id = ? AND fetch_gen < ?', [payoutId, generation]);
      const [figures] = (await manager.query('SELECT COUNT(*) AS n, COALESCE(SUM(net), 0) AS net FROM payout_items WHERE payout_id = ?', [payoutId])) as {
        n: string;
        net: string;
      }[];
      const count = Number(figures!.n);
      const itemsNet = Number(figures!.net);
      const owed = Number(locked.items_requested_gen) > generation;
      await manager.query(
        `UPDATE payouts SET items_fetched_gen = ?, items_status = ?, items_fetched_at = NOW(3), items_count = ?, items_net = ?, items_error = NULL WHERE id = ?`,
        [generation, owed ? 'pending' : 'done', count, itemsNet, payoutId],
      );
      const difference = Number(locked.amount) - itemsNet;
      const summary = { payoutId, items: count, listed: seen, amount: Number(locked.amount), itemsNet, difference, ms: Date.now() - started };
      // A payout whose items do not sum to it is money on-call and accountants must look at: warn.
      // Not while a newer fetch is owed: these figures are about to be replaced, and that fetch tells.
      if (difference !== 0 && !owed) logger.warn('payout does not tie out: its items do not sum to its amount', summary);
      else logger.info('payout items stored', summary);
      return { outcome: 'stored' as const, items: count, itemsNet, difference };
    });
  }

  /** After the last try: the payout shows that its items could not be fetched, until a newer request asks again. */
  async function markFailed(payoutId: string, generation: number, error: unknown): Promise<void> {
    await dataSource.query(
      `UPDATE payouts SET items_status = 'failed', items_error = ? WHERE id = ? AND items_requested_gen = ? AND items_fetched_gen < ?`,
      [describeError(error).slice(0, 4000), payoutId, generation, generation],
    );
  }

  return { run, markFailed };
}

export type PayoutItemsJob = ReturnType<typeof createPayoutItemsJob>;
