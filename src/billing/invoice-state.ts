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

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/**
 * Before API 2025-03-31 Stripe booked an authorization released uncaptured (a partial capture, a
 * cancel or expiry) as a Refund object of the charge, for exactly the released amount, sent in
 * refund events from 2024-10-28 on. It gave no money back: the charge's released amount tells it
 * apart, and the one Refund of that charge for that amount is the release. Whichever order the
 * charge and the Refund arrive in, once both are known the Refund is not counted.
 */
function releaseRefundIds(charges: ChargeFacts[], refunds: RefundFacts[]): Set<string> {
  const releases = new Set<string>();
  for (const charge of charges) {
    const released = charge.amountReleased ?? 0;
    if (released <= 0) continue;
    const release = refunds
      .filter((r) => r.chargeId === charge.id && r.amount === released)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))[0];
    if (release) releases.add(release.id);
  }
  return releases;
}

/**
 * The invoice as its facts say it is. Every input only grows or moves forward,
 * so whatever order the events came in, the same facts give the same state.
 */
export function deriveInvoiceState(facts: InvoiceFacts): InvoiceState {
  const reviews: string[] = [];
  const inCurrency = (currency: string | null) => currency === facts.currency;

  // Received per payment: the PaymentIntent's amount_received, or its captured charges if those tell more.
  let amountPaid = 0;
  for (const payment of facts.payments) {
    const charges = facts.charges.filter((c) => c.paymentId === payment.id && c.succeeded);
    const received = Math.max(payment.amountReceived, sum(charges.map((c) => c.amountCaptured)));
    if (received === 0) continue;
    const currency = payment.currency ?? charges[0]?.currency ?? null;
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
  const chargeOf = (refund: RefundFacts) => {
    if (refund.chargeId) return refund.chargeId;
    const charges = facts.charges.filter((c) => c.paymentId === refund.paymentId);
    return charges.length === 1 ? charges[0]!.id : refund.paymentId;
  };
  const releases = releaseRefundIds(facts.charges, facts.refunds);
  const moneyRefunds = facts.refunds.filter((r) => !releases.has(r.id));
  const chargeIds = new Set([...facts.charges.map((c) => c.id), ...moneyRefunds.map(chargeOf)]);
  let amountRefunded = 0;
  for (const chargeId of chargeIds) {
    const charge = facts.charges.find((c) => c.id === chargeId);
    const refunds = moneyRefunds.filter((r) => chargeOf(r) === chargeId);
    const currency = charge?.currency ?? refunds[0]?.currency ?? null;
    if (!inCurrency(currency)) continue;
    const counted = sum(refunds.filter((r) => refundCounts(r.status)).map((r) => r.amount));
    const known = sum(refunds.map((r) => r.amount));
    amountRefunded += counted + Math.max(0, (charge?.amountRefunded ?? 0) - known);
  }

  const holding = facts.disputes.filter((d) => disputeHoldsFunds(d.status) && inCurrency(d.currency));
  const amountDisputed = sum(holding.map((d) => d.amount));

  if (amountPaid > facts.amountDue) reviews.push(`overpaid by ${amountPaid - facts.amountDue} ${facts.currency}`);

  let status: InvoiceStatus;
  if (facts.voided) status = 'void';
  else if (holding.length > 0) status = 'disputed';
  else if (amountPaid > 0 && amountRefunded >= amountPaid) status = 'refunded';
  else if (amountRefunded > 0) status = 'partially_refunded';
  else if (amountPaid >= facts.amountDue && amountPaid > 0) status = 'paid';
  else if (amountPaid > 0) status = 'partially_paid';
  else status = 'open';

  return { amountPaid, amountRefunded, amountDisputed, status, reviewReason: reviews.length ? reviews.join('; ') : null };
}
