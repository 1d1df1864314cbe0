import { refundCounts } from '../billing/status-order.js';
import { formatMinor } from '../billing/currencies.js';

export type ReconciliationState = 'unpaid' | 'awaiting_payout' | 'reconciled' | 'discrepancy';
export type DiscrepancyReason = 'currency_mismatch' | 'payout_failed' | 'does_not_tie_out' | 'amount_mismatch';

export const RECONCILIATION_STATES: readonly ReconciliationState[] = ['discrepancy', 'awaiting_payout', 'unpaid', 'reconciled'];
/** Dashboard and API order: what needs an accountant first. */
export const attentionRank = (state: ReconciliationState) => RECONCILIATION_STATES.indexOf(state);

export interface PayoutFacts {
  id: string;
  amount: number;
  currency: string;
  status: string;
  arrivalDate: number;
  failureCode: string | null;
  itemsStatus: string;
  itemsFetched: boolean;
  itemsNet: number | null;
}

export interface ItemFacts {
  id: string;
  payoutId: string;
  paymentId: string | null;
  chargeId: string | null;
  refundId: string | null;
  disputeId: string | null;
  type: string;
  reportingCategory: string | null;
  amount: number;
  fee: number;
  net: number;
  currency: string;
}

export interface InvoiceFactsForReconciliation {
  currency: string;
  amountDue: number;
  amountPaid: number;
  payments: { id: string; currency: string | null; amountReceived: number }[];
  charges: { id: string; paymentId: string; currency: string; amountCaptured: number; succeeded: boolean }[];
  refunds: { id: string; currency: string; amount: number; status: string }[];
  disputes: { id: string; currency: string; amount: number; status: string }[];
  items: ItemFacts[];
  payouts: Map<string, PayoutFacts>;
}

export interface InvoiceReconciliation {
  reconciliation: ReconciliationState;
  discrepancy: { reason: DiscrepancyReason; message: string } | null;
  /** Sums over the balance transactions that moved this invoice's money, in their (settlement) currency. */
  gross: number;
  fees: number;
  net: number;
  settlementCurrency: string | null;
  payouts: { id: string; status: string; amount: number; currency: string; arrivalDate: string; net: number; reconciled: boolean }[];
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
export const isoDate = (unix: number) => new Date(unix * 1000).toISOString().slice(0, 10);
export const payoutFailed = (status: string) => status === 'failed' || status === 'canceled';

/** The payout's tie-out: null until its items were fetched. */
export function payoutDifference(payout: Pick<PayoutFacts, 'amount' | 'itemsFetched' | 'itemsNet'>): number | null {
  return payout.itemsFetched && payout.itemsNet !== null ? payout.amount - payout.itemsNet : null;
}
export const payoutReconciled = (payout: PayoutFacts) => payout.status === 'paid' && payoutDifference(payout) === 0;

/**
 * Where an invoice's money stands against the bank. Checks run from the most
 * serious: money in another currency cannot be tied to the cent; money in a
 * failed payout never arrived; a payout that does not tie out makes every
 * invoice in it suspect; then what was received against what Stripe paid out;
 * then whether everything has been paid out yet; then paid against due.
 */
export function reconcileInvoice(facts: InvoiceFactsForReconciliation): InvoiceReconciliation {
  const money = (amount: number, currency: string) => `${formatMinor(amount, currency)} ${currency.toUpperCase()}`;
  const carried = [...new Set(facts.items.map((i) => i.payoutId))].map((id) => facts.payouts.get(id)).filter((p): p is PayoutFacts => !!p);
  const settlementCurrency = facts.items[0]?.currency ?? null;
  const base = {
    gross: sum(facts.items.map((i) => i.amount)),
    fees: sum(facts.items.map((i) => i.fee)),
    net: sum(facts.items.map((i) => i.net)),
    settlementCurrency,
    payouts: carried
      .sort((a, b) => a.arrivalDate - b.arrivalDate || a.id.localeCompare(b.id))
      .map((p) => ({
        id: p.id,
        status: p.status,
        amount: p.amount,
        currency: p.currency,
        arrivalDate: isoDate(p.arrivalDate),
        net: sum(facts.items.filter((i) => i.payoutId === p.id).map((i) => i.net)),
        reconciled: payoutReconciled(p),
      })),
  };
  const result = (reconciliation: ReconciliationState, discrepancy: InvoiceReconciliation['discrepancy'] = null): InvoiceReconciliation => ({
    reconciliation,
    discrepancy,
    ...base,
  });
  const discrepancy = (reason: DiscrepancyReason, message: string) => result('discrepancy', { reason, message });

  const charges = facts.charges.filter((c) => c.succeeded && c.amountCaptured > 0);
  const received = facts.payments.some((p) => p.amountReceived > 0) || charges.length > 0;
  if (!received && facts.items.length === 0) return result('unpaid');

  const foreignPayment = [...facts.payments.filter((p) => p.amountReceived > 0), ...charges].find((p) => p.currency !== null && p.currency !== facts.currency);
  if (foreignPayment) {
    return discrepancy('currency_mismatch', `payment ${foreignPayment.id} is in ${foreignPayment.currency}, the invoice in ${facts.currency}`);
  }
  const foreignItem = facts.items.find((i) => i.currency !== facts.currency);
  if (foreignItem) {
    return discrepancy('currency_mismatch', `paid out in ${foreignItem.currency} (balance transaction ${foreignItem.id}), the invoice is in ${facts.currency}: converted amounts cannot tie out to the cent`);
  }

  const failed = carried.find((p) => payoutFailed(p.status));
  if (failed) {
    return discrepancy('payout_failed', `payout ${failed.id} ${failed.status}${failed.failureCode ? ` (${failed.failureCode})` : ''}: its money went back to the Stripe balance`);
  }
  for (const payout of carried) {
    const difference = payoutDifference(payout);
    if (payout.itemsStatus === 'failed' && difference === null) {
      return discrepancy('does_not_tie_out', `the transactions of payout ${payout.id} could not be fetched from Stripe`);
    }
    if (difference !== null && difference !== 0) {
      return discrepancy('does_not_tie_out', `payout ${payout.id} does not tie out: ${money(payout.amount, payout.currency)} paid, its transactions net ${money(payout.itemsNet ?? 0, payout.currency)}, difference ${money(difference, payout.currency)}`);
    }
  }

  // What Stripe paid out for each fact, against the fact itself.
  let awaiting = false;
  for (const charge of charges) {
    const items = facts.items.filter((i) => i.chargeId === charge.id && !i.refundId && !i.disputeId);
    if (items.length === 0) awaiting = true;
    else if (sum(items.map((i) => i.amount)) !== charge.amountCaptured) {
      return discrepancy('amount_mismatch', `charge ${charge.id} captured ${money(charge.amountCaptured, facts.currency)}, its balance transactions show ${money(sum(items.map((i) => i.amount)), facts.currency)}`);
    }
  }
  for (const refund of facts.refunds.filter((r) => refundCounts(r.status))) {
    const items = facts.items.filter((i) => i.refundId === refund.id);
    if (items.length === 0) awaiting = true;
    else if (-sum(items.filter((i) => i.type === 'refund').map((i) => i.amount)) !== refund.amount) {
      return discrepancy('amount_mismatch', `refund ${refund.id} of ${money(refund.amount, facts.currency)} does not match its balance transaction`);
    }
  }
  // An inquiry (warning_*) moves no money, so no balance transaction will ever come for it.
  for (const dispute of facts.disputes.filter((d) => !d.status.startsWith('warning_'))) {
    if (!facts.items.some((i) => i.disputeId === dispute.id)) awaiting = true;
  }
  // Money received that no charge fact covers yet (payment_intent.succeeded came before charge.succeeded):
  // nothing can have been paid out for it until its charge is known.
  for (const payment of facts.payments.filter((p) => p.amountReceived > 0)) {
    if (!charges.some((c) => c.paymentId === payment.id)) awaiting = true;
  }
  if (carried.some((p) => p.status !== 'paid') || awaiting) return result('awaiting_payout');

  if (facts.amountPaid !== facts.amountDue) {
    const message =
      facts.amountPaid > facts.amountDue
        ? `overpaid: ${money(facts.amountPaid, facts.currency)} received, ${money(facts.amountDue, facts.currency)} due`
        : `underpaid: ${money(facts.amountPaid, facts.currency)} received of ${money(facts.amountDue, facts.currency)} due`;
    return discrepancy('amount_mismatch', message);
  }
  return result('reconciled');
}
