import { refundCounts } from '../billing/status-order.js';
import { formatMinor } from '../billing/currencies.js';
import { IN_PAYPAL_BALANCE, paypalBalance, type PaypalFigures } from './paypal-balance.js';

export type ReconciliationState = 'unpaid' | 'awaiting_payout' | 'reconciled' | 'discrepancy';
export type DiscrepancyReason = 'currency_mismatch' | 'does_not_tie_out' | 'amount_mismatch';

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
  failureMessage: string | null;
  /** For a failed or canceled payout: the later payout that carries its money (its `payout_failure` transaction). */
  repaidBy: string | null;
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
  /** The invoice's refunded total: refund objects, and charge.amount_refunded for refunds whose objects have not arrived. */
  amountRefunded?: number;
  /** `gateway` (default stripe); a PayPal payment's fee and net are its capture's breakdown (Stripe's are in the items). */
  payments: { id: string; currency: string | null; amountReceived: number; gateway?: string; fee?: number | null; net?: number | null }[];
  charges: { id: string; paymentId: string; currency: string; amountCaptured: number; amountRefunded?: number; succeeded: boolean }[];
  /** A refund or dispute is its payment's gateway's; a PayPal refund's fee and net are its breakdown. */
  refunds: { id: string; paymentId?: string; currency: string; amount: number; status: string; fee?: number | null; net?: number | null }[];
  disputes: { id: string; paymentId?: string; currency: string; amount: number; status: string }[];
  items: ItemFacts[];
  payouts: Map<string, PayoutFacts>;
}

export type Gateway = 'stripe' | 'paypal';
/** Where a payment's money is settled: Stripe's in the payouts that carried it, PayPal's in the PayPal balance. */
export type Settlement = 'stripe_payout' | typeof IN_PAYPAL_BALANCE;

export interface PaymentSettlement {
  id: string;
  gateway: Gateway;
  settlement: Settlement;
  currency: string | null;
  amountReceived: number;
  /** PayPal: the capture's breakdown (null until known). Stripe: its balance transactions' (null until paid out). */
  fee: number | null;
  net: number | null;
}

export interface InvoiceReconciliation {
  reconciliation: ReconciliationState;
  discrepancy: { reason: DiscrepancyReason; message: string } | null;
  /** The gateways that moved money for it, sorted. */
  gateways: Gateway[];
  /** Each payment that received money, with its gateway and where its money is settled. */
  payments: PaymentSettlement[];
  /** Stripe's part (the balance transactions, as before PayPal), null when Stripe moved no money for it. */
  stripe: { gross: number; fees: number; net: number; settlementCurrency: string | null } | null;
  /** PayPal's part, in the PayPal balance; `awaiting` says what is not accounted for yet. Null when PayPal moved no money for it. */
  paypal: (PaypalFigures & { awaiting: string | null }) | null;
  /**
   * Both gateways' money, in `settlementCurrency`: Stripe's balance transactions' sums plus PayPal's
   * figures. When the two settled in different currencies they cannot be added (the invoice is a
   * currency_mismatch anyway): then these are Stripe's, and PayPal's stay in `paypal`.
   */
  gross: number;
  fees: number;
  net: number;
  settlementCurrency: string | null;
  payouts: {
    id: string;
    status: string;
    amount: number;
    currency: string;
    arrivalDate: string;
    net: number;
    reconciled: boolean;
    failureCode: string | null;
    failureMessage: string | null;
    /** A failed payout's money went out again in this later payout. */
    repaidBy: string | null;
  }[];
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
 * The payout that finally carried an item's money to the bank: its own, or, when that payout
 * failed (or was canceled) and Stripe paid the money out again, the later payout that carried
 * the returned funds (followed through chains). Null while the money sits in the Stripe balance.
 */
function landedIn(payoutId: string, payouts: Map<string, PayoutFacts>): PayoutFacts | null {
  let payout = payouts.get(payoutId);
  for (let hops = 0; payout && payoutFailed(payout.status) && hops < 5; hops++) {
    payout = payout.repaidBy ? payouts.get(payout.repaidBy) : undefined;
  }
  return payout && !payoutFailed(payout.status) ? payout : null;
}

/**
 * What the invoice's money came to, in the invoice's currency: paid − refunded − fees − dispute
 * losses + reinstated. Each movement counts once it happened, paid out or not (a refund known only
 * from charge.refunded counts too); fees are only known from Stripe's balance transactions. Money
 * Stripe converted into another currency cannot be mixed with the invoice's amounts: then the net
 * is the balance transactions' own, in the settlement currency.
 */
function netOf(facts: InvoiceFactsForReconciliation, charges: InvoiceFactsForReconciliation['charges']) {
  const settlement = facts.items[0]?.currency ?? null;
  if (settlement !== null && (settlement !== facts.currency || facts.items.some((i) => i.currency !== settlement))) {
    return sum(facts.items.map((i) => i.net));
  }
  const chargeItems = facts.items.filter((i) => i.chargeId && !i.refundId && !i.disputeId && i.type !== 'refund');
  const paid = Math.max(facts.amountPaid, sum(charges.map((c) => c.amountCaptured)), sum(chargeItems.map((i) => i.amount)));
  const refunded = Math.max(refundedOf(facts, charges), -sum(facts.items.filter((i) => i.refundId || i.type === 'refund').map((i) => i.amount)));
  const fees = sum(facts.items.map((i) => i.fee));
  let losses = 0;
  let reinstated = 0;
  for (const dispute of facts.disputes.filter((d) => !d.status.startsWith('warning_'))) {
    const items = facts.items.filter((i) => i.disputeId === dispute.id);
    const withdrawn = -sum(items.filter((i) => i.amount < 0).map((i) => i.amount));
    const returned = sum(items.filter((i) => i.amount > 0).map((i) => i.amount));
    losses += Math.max(withdrawn, dispute.amount);
    reinstated += Math.max(returned, dispute.status === 'won' ? dispute.amount : 0);
  }
  // Dispute transactions of a dispute not known as a fact yet still moved the money.
  const known = new Set(facts.disputes.map((d) => d.id));
  for (const item of facts.items.filter((i) => i.disputeId && !known.has(i.disputeId))) {
    if (item.amount < 0) losses -= item.amount;
    else reinstated += item.amount;
  }
  return paid - refunded - fees - losses + reinstated;
}

/** Everything refunded: the invoice's total, its charges' amount_refunded, its counted refund objects, whichever knows most. */
function refundedOf(facts: InvoiceFactsForReconciliation, charges: InvoiceFactsForReconciliation['charges']): number {
  return Math.max(
    facts.amountRefunded ?? 0,
    sum(charges.map((c) => c.amountRefunded ?? 0)),
    sum(facts.refunds.filter((r) => refundCounts(r.status)).map((r) => r.amount)),
  );
}

/**
 * Where the Stripe part of an invoice's money stands against the bank (given Stripe's
 * facts only; reconcileInvoice checks paid against due for the whole invoice). Checks run
 * from the most serious: money in another currency cannot be tied to the cent; a payout
 * that does not tie out makes every invoice in it suspect; then what was received against
 * what Stripe paid out; then whether every money movement (charges, refunds, dispute
 * withdrawals) is in a paid payout yet: money of a failed payout is back in the Stripe
 * balance, awaiting the payout that pays it out again.
 */
function stripePart(facts: InvoiceFactsForReconciliation): StripePart {
  const money = (amount: number, currency: string) => `${formatMinor(amount, currency)} ${currency.toUpperCase()}`;
  const byId = (a: PayoutFacts, b: PayoutFacts) => a.arrivalDate - b.arrivalDate || a.id.localeCompare(b.id);
  const own = [...new Set(facts.items.map((i) => i.payoutId))].map((id) => facts.payouts.get(id)).filter((p): p is PayoutFacts => !!p);
  /** Where each item's money is now: the payout that paid it out (null: back in the balance). */
  const landing = new Map(facts.items.map((i) => [i.id, landedIn(i.payoutId, facts.payouts)]));
  const landed = [...new Map([...landing.values()].filter((p): p is PayoutFacts => !!p).map((p) => [p.id, p])).values()];
  const listed = [...new Map([...own, ...landed].map((p) => [p.id, p])).values()].sort(byId);
  const settlementCurrency = facts.items[0]?.currency ?? null;
  const succeeded = facts.charges.filter((c) => c.succeeded && c.amountCaptured > 0);
  const base = {
    gross: sum(facts.items.map((i) => i.amount)),
    fees: sum(facts.items.map((i) => i.fee)),
    net: netOf(facts, succeeded),
    settlementCurrency,
    payouts: listed.map((p) => ({
      id: p.id,
      status: p.status,
      amount: p.amount,
      currency: p.currency,
      arrivalDate: isoDate(p.arrivalDate),
      // A failed payout's share is the money it had carried; the payout that paid it again shows the same money.
      net: sum(facts.items.filter((i) => (payoutFailed(p.status) ? i.payoutId === p.id : landing.get(i.id)?.id === p.id)).map((i) => i.net)),
      reconciled: payoutReconciled(p),
      failureCode: p.failureCode,
      failureMessage: p.failureMessage,
      repaidBy: p.repaidBy,
    })),
  };
  const result = (reconciliation: ReconciliationState, discrepancy: InvoiceReconciliation['discrepancy'] = null): StripePart => ({
    reconciliation,
    discrepancy,
    ...base,
  });
  const discrepancy = (reason: DiscrepancyReason, message: string) => result('discrepancy', { reason, message });

  const charges = succeeded;
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

  // Only the payouts the money landed in: a failed payout's tie-out is not what reached the bank.
  for (const payout of landed) {
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
  // Refunds known only from charge.amount_refunded (no refund object yet): their money has not
  // been paid out until balance transactions for the whole refunded amount are.
  if (-sum(facts.items.filter((i) => i.type === 'refund' || i.refundId).map((i) => i.amount)) < refundedOf(facts, charges)) awaiting = true;
  // An inquiry (warning_*) moves no money, so no balance transaction will ever come for it.
  for (const dispute of facts.disputes.filter((d) => !d.status.startsWith('warning_'))) {
    if (!facts.items.some((i) => i.disputeId === dispute.id)) awaiting = true;
  }
  // Money received that no charge fact covers yet (payment_intent.succeeded came before charge.succeeded):
  // nothing can have been paid out for it until its charge is known.
  for (const payment of facts.payments.filter((p) => p.amountReceived > 0)) {
    if (!charges.some((c) => c.paymentId === payment.id)) awaiting = true;
  }
  // Every movement in a paid payout: money of a failed payout not paid out again, or a payout
  // still on its way, is awaited.
  if ([...landing.values()].some((p) => p === null || p.status !== 'paid') || awaiting) return result('awaiting_payout');
  // Stripe's part is accounted for; paid against due is the whole invoice's (reconcileInvoice).
  return result('reconciled');
}

/** Stripe's part of an invoice: `unpaid` when Stripe moved none of its money, `reconciled` when all of it is in paid payouts. */
type StripePart = Omit<InvoiceReconciliation, 'gateways' | 'payments' | 'stripe' | 'paypal'>;

/**
 * Where an invoice's money stands, whichever gateway it came through: Stripe's part against the
 * payouts that carried it (stripePart), PayPal's in the PayPal balance (paypal-balance.ts). The
 * invoice is `reconciled` only when both parts are accounted for and what was paid matches what
 * was due; a discrepancy of either part (Stripe's first) wins, then anything still awaited
 * (`awaiting_payout`: the money is received but not yet where it settles, a payout or the PayPal
 * balance's figures). PayPal's money needs no payout, so a PayPal-only invoice is reconciled as soon
 * as PayPal's breakdowns account for it.
 */
export function reconcileInvoice(facts: InvoiceFactsForReconciliation): InvoiceReconciliation {
  const money = (amount: number, currency: string) => `${formatMinor(amount, currency)} ${currency.toUpperCase()}`;
  const paypalIds = new Set(facts.payments.filter((p) => p.gateway === 'paypal').map((p) => p.id));
  const isPaypal = (fact: { paymentId?: string }) => fact.paymentId !== undefined && paypalIds.has(fact.paymentId);
  const paypalPayments = facts.payments.filter((p) => paypalIds.has(p.id));
  const paypalRefunds = facts.refunds.filter(isPaypal);
  // The invoice's totals hold both gateways' money in its currency: Stripe's part is what PayPal's is not.
  const inInvoiceCurrency = <T extends { currency: string | null }>(list: T[]) => list.filter((x) => x.currency === facts.currency);
  const paypalPaid = sum(inInvoiceCurrency(paypalPayments).map((p) => p.amountReceived));
  const paypalRefunded = sum(inInvoiceCurrency(paypalRefunds.filter((r) => refundCounts(r.status))).map((r) => r.amount));
  const stripeFacts: InvoiceFactsForReconciliation = {
    ...facts,
    amountPaid: Math.max(0, facts.amountPaid - paypalPaid),
    amountRefunded: Math.max(0, (facts.amountRefunded ?? 0) - paypalRefunded),
    payments: facts.payments.filter((p) => !paypalIds.has(p.id)),
    charges: facts.charges.filter((c) => !paypalIds.has(c.paymentId)),
    refunds: facts.refunds.filter((r) => !isPaypal(r)),
    disputes: facts.disputes.filter((d) => !isPaypal(d)),
  };
  const stripe = stripePart(stripeFacts);
  const pp = paypalBalance(
    facts.currency,
    paypalPayments.map((p) => ({ id: p.id, currency: p.currency, amountReceived: p.amountReceived, fee: p.fee ?? null, net: p.net ?? null })),
    paypalRefunds,
    facts.disputes.filter(isPaypal),
  );

  const stripeMoved = stripe.reconciliation !== 'unpaid';
  const stripeCurrency = stripe.settlementCurrency ?? facts.currency;
  const both = stripeMoved && pp.figures !== null;
  const addable = !both || pp.figures!.currency === stripeCurrency;
  const figures =
    pp.figures === null
      ? { gross: stripe.gross, fees: stripe.fees, net: stripe.net, settlementCurrency: stripe.settlementCurrency }
      : !stripeMoved
        ? { gross: pp.figures.gross, fees: pp.figures.fees, net: pp.figures.net, settlementCurrency: pp.figures.currency }
        : addable
          ? { gross: stripe.gross + pp.figures.gross, fees: stripe.fees + pp.figures.fees, net: stripe.net + pp.figures.net, settlementCurrency: stripe.settlementCurrency ?? pp.figures.currency }
          : { gross: stripe.gross, fees: stripe.fees, net: stripe.net, settlementCurrency: stripeCurrency };

  const stripeFeesOf = (paymentId: string) => facts.items.filter((i) => i.paymentId === paymentId);
  const payments: PaymentSettlement[] = facts.payments
    .filter((p) => p.amountReceived > 0 || facts.charges.some((c) => c.paymentId === p.id && c.succeeded && c.amountCaptured > 0))
    .map((p) => {
      if (paypalIds.has(p.id)) {
        return { id: p.id, gateway: 'paypal', settlement: IN_PAYPAL_BALANCE, currency: p.currency, amountReceived: p.amountReceived, fee: p.fee ?? null, net: p.net ?? null };
      }
      const items = stripeFeesOf(p.id);
      const received = Math.max(p.amountReceived, sum(facts.charges.filter((c) => c.paymentId === p.id && c.succeeded).map((c) => c.amountCaptured)));
      return {
        id: p.id,
        gateway: 'stripe',
        settlement: 'stripe_payout',
        currency: p.currency,
        amountReceived: received,
        fee: items.length ? sum(items.map((i) => i.fee)) : null,
        net: items.length ? sum(items.map((i) => i.net)) : null,
      };
    });
  const gateways = [...new Set(payments.map((p) => p.gateway))].sort();
  const base = {
    gateways,
    payments,
    stripe: stripeMoved ? { gross: stripe.gross, fees: stripe.fees, net: stripe.net, settlementCurrency: stripe.settlementCurrency } : null,
    paypal: pp.figures ? { ...pp.figures, awaiting: pp.result.state === 'awaiting' ? pp.result.why : null } : null,
    ...figures,
    payouts: stripe.payouts,
  };
  const result = (reconciliation: ReconciliationState, discrepancy: InvoiceReconciliation['discrepancy'] = null): InvoiceReconciliation => ({
    reconciliation,
    discrepancy,
    ...base,
  });

  if (!stripeMoved && pp.result.state === 'none') return result('unpaid');
  if (stripe.reconciliation === 'discrepancy') return result('discrepancy', stripe.discrepancy);
  if (pp.result.state === 'discrepancy') return result('discrepancy', { reason: pp.result.reason, message: pp.result.message });
  if (stripe.reconciliation === 'awaiting_payout' || pp.result.state === 'awaiting') return result('awaiting_payout');
  if (facts.amountPaid !== facts.amountDue) {
    const message =
      facts.amountPaid > facts.amountDue
        ? `overpaid: ${money(facts.amountPaid, facts.currency)} received, ${money(facts.amountDue, facts.currency)} due`
        : `underpaid: ${money(facts.amountPaid, facts.currency)} received of ${money(facts.amountDue, facts.currency)} due`;
    return result('discrepancy', { reason: 'amount_mismatch', message });
  }
  return result('reconciled');
}
