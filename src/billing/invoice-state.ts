import { disputeHoldsFunds, refundCounts } from './status-order.js';

export type InvoiceStatus = 'open' | 'partially_paid' | 'paid' | 'partially_refunded' | 'refunded' | 'disputed' | 'void';

export interface PaymentFacts {
  id: string;
  currency: string | null;
  amountReceived: number;
}
export interface ChargeFacts {
  id: string;
  paymentId: string;
  currency: string;
  amountCaptured: number;
  amountRefunded: number;
  /** Released uncaptured, as API versions before 2025-03-31 report it (0 since): see `isRelease`. */
  amountReleased?: number;
  succeeded: boolean;
}
export interface RefundFacts {
  id: string;
  paymentId: string;
  chargeId: string | null;
  currency: string;
  amount: number;
  status: string;
}
export interface DisputeFacts {
  id: string;
  paymentId: string;
  currency: string;
  amount: number;
  status: string;
}

export interface InvoiceFacts {
  currency: string;
  amountDue: number;
  voided: boolean;
  payments: PaymentFacts[];
  charges: ChargeFacts[];
  refunds: RefundFacts[];
  disputes: DisputeFacts[];
}

export interface InvoiceState {
  amountPaid: number;
  amountRefunded: number;
  amountDisputed: number;
  status: InvoiceStatus;
  reviewReason: string | null;
}

/**
 * Before API 2025-03-31 Stripe booked an authorization released uncaptured (a partial capture, a
 * cancel or expiry) as a Refund object of the charge, for exactly the released amount, sent in
 * refund events from 2024-10-28 on. It gave no money back: the charge's released amount tells it
 * apart, and the one Refund of that charge for that amount is the release (of several, the
 * smallest id). Whichever order the charge and the Refund arrive in, once both are known the
 * Refund is not counted.
 */
function releaseRefundIds(charges: ChargeFacts[], refunds: RefundFacts[]): Set<string> {
  const releases = new Set<string>();
  for (const charge of charges) {
    const released = charge.amountReleased ?? 0;
    if (released <= 0) continue;
    let release: RefundFacts | undefined;
    for (const refund of refunds) {
      if (refund.chargeId === charge.id && refund.amount === released && (!release || refund.id < release.id)) release = refund;
    }
    if (release) releases.add(release.id);
  }
  return releases;
}

/**
 * The invoice as its facts say it is. Every input only grows or moves forward,
 * so whatever order the events came in, the same facts give the same state.
 *
 * Plain loops, not chains of filter/map/reduce with closures: the worker runs this for every
 * invoice of every batch, and V8 re-optimized the chained form seven times in a 10,000-event
 * burst (each array a builtin was inlined for, empty or not, has its own map), ~160 ms of
 * compiling on a core the burst needs; the loops compile once.
 */
export function deriveInvoiceState(facts: InvoiceFacts): InvoiceState {
  const { payments, charges, refunds, disputes } = facts;
  const reviews: string[] = [];
  const inCurrency = (currency: string | null) => currency === facts.currency;

  // Received per payment: the PaymentIntent's amount_received, or its captured charges if those tell more.
  let amountPaid = 0;
  for (const payment of payments) {
    let captured = 0;
    let firstCharge: ChargeFacts | undefined;
    for (const charge of charges) {
      if (charge.paymentId !== payment.id || !charge.succeeded) continue;
      captured += charge.amountCaptured;
      firstCharge ??= charge;
    }
    const received = Math.max(payment.amountReceived, captured);
    if (received === 0) continue;
    const currency = payment.currency ?? firstCharge?.currency ?? null;
    if (!inCurrency(currency)) {
      reviews.push(`payment ${payment.id} of ${received} ${currency} does not match the invoice currency ${facts.currency}; not counted`);
      continue;
    }
    amountPaid += received;
  }

  // Refunded per charge: refunds known as objects count by their own status; the charge's cumulative
  // amount_refunded covers refunds whose objects have not arrived yet.
  // A refund without a charge id belongs to its payment's charge when the payment has exactly one,
  // or it would be counted again as the unexplained part of that charge's amount_refunded.
  const chargeOf = (refund: RefundFacts): string => {
    if (refund.chargeId) return refund.chargeId;
    let only: ChargeFacts | undefined;
    let count = 0;
    for (const charge of charges) {
      if (charge.paymentId !== refund.paymentId) continue;
      only = charge;
      count += 1;
    }
    return count === 1 ? only!.id : refund.paymentId;
  };
  const releases = releaseRefundIds(charges, refunds);
  // The refunds that moved money, each with the charge it counts against.
  const moneyRefunds: { refund: RefundFacts; chargeId: string }[] = [];
  for (const refund of refunds) if (!releases.has(refund.id)) moneyRefunds.push({ refund, chargeId: chargeOf(refund) });
  const chargeIds = new Set<string>();
  for (const charge of charges) chargeIds.add(charge.id);
  for (const { chargeId } of moneyRefunds) chargeIds.add(chargeId);
  let amountRefunded = 0;
  for (const chargeId of chargeIds) {
    let charge: ChargeFacts | undefined;
    for (const candidate of charges) {
      if (candidate.id === chargeId) {
        charge = candidate;
        break;
      }
    }
    let firstRefund: RefundFacts | undefined;
    let counted = 0;
    let known = 0;
    for (const money of moneyRefunds) {
      if (money.chargeId !== chargeId) continue;
      firstRefund ??= money.refund;
      known += money.refund.amount;
      if (refundCounts(money.refund.status)) counted += money.refund.amount;
    }
    const currency = charge?.currency ?? firstRefund?.currency ?? null;
    if (!inCurrency(currency)) continue;
    amountRefunded += counted + Math.max(0, (charge?.amountRefunded ?? 0) - known);
  }

  let holding = 0;
  let amountDisputed = 0;
  for (const dispute of disputes) {
    if (!disputeHoldsFunds(dispute.status) || !inCurrency(dispute.currency)) continue;
    holding += 1;
    amountDisputed += dispute.amount;
  }

  if (amountPaid > facts.amountDue) reviews.push(`overpaid by ${amountPaid - facts.amountDue} ${facts.currency}`);

  let status: InvoiceStatus;
  if (facts.voided) status = 'void';
  else if (holding > 0) status = 'disputed';
  else if (amountPaid > 0 && amountRefunded >= amountPaid) status = 'refunded';
  else if (amountRefunded > 0) status = 'partially_refunded';
  else if (amountPaid >= facts.amountDue && amountPaid > 0) status = 'paid';
  else if (amountPaid > 0) status = 'partially_paid';
  else status = 'open';

  return { amountPaid, amountRefunded, amountDisputed, status, reviewReason: reviews.length ? reviews.join('; ') : null };
}
