import type Stripe from 'stripe';
import type { ReconciliationRig } from './reconciliation-client.js';
import { createInvoice, deliverInOrder } from './billing-client.js';
import { paymentEvents } from './payment-events.js';
import { payoutEvents } from './payout-events.js';
import { txns, type FakeTxn } from './fake-balance-transactions.js';
import { uniqueId } from './stripe-events.js';

export interface PaidInvoice {
  id: string;
  number: string;
  amountDue: number;
  paymentIntentId: string;
  chargeId: string;
  /** The balance transactions this invoice's money made. */
  txns: FakeTxn[];
}

/** An invoice paid in full by card (events delivered), with the charge's balance transaction (fee taken). */
export async function paidInvoice(
  rig: ReconciliationRig,
  p: { amount: number; fee: number; number?: string; customerName?: string; currency?: string; extra?: (pay: ReturnType<typeof paymentEvents>) => Stripe.Event[] },
): Promise<PaidInvoice> {
  const invoice = await createInvoice(rig.t, { amountDue: p.amount, currency: p.currency ?? 'usd', ...(p.number && { number: p.number }) });
  const pay = paymentEvents({ invoiceId: invoice.id, amount: p.amount, currency: p.currency });
  await deliverInOrder(rig.t, [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded'), ...(p.extra?.(pay) ?? [])]);
  return {
    id: invoice.id,
    number: invoice.number,
    amountDue: p.amount,
    paymentIntentId: pay.paymentIntentId,
    chargeId: pay.chargeId,
    txns: [txns.charge({ chargeId: pay.chargeId, paymentIntentId: pay.paymentIntentId, amount: p.amount, fee: p.fee, currency: p.currency })],
  };
}

const sumNet = (list: FakeTxn[]) => list.reduce((a, t) => a + t.net, 0);

/**
 * The payout an accountant meets every morning: three card payments (fees
 * taken), one partly refunded, one disputed, and a Radar fee, Stripe listing
 * them with the payout's own debit. `skew` makes the payout amount differ
 * from its transactions' net by that many cents.
 */
export async function mixedPayout(rig: ReconciliationRig, options: { skew?: number; arrivalDate?: number; numbers?: string[] } = {}) {
  const plain = await paidInvoice(rig, { amount: 10_000, fee: 320, number: options.numbers?.[0] });
  const refundId = uniqueId('re');
  const refunded = await paidInvoice(rig, {
    amount: 5_000,
    fee: 175,
    number: options.numbers?.[1],
    extra: (pay) => [pay.refund('refund.created', { id: refundId, amount: 2_000, status: 'succeeded' }), pay.charge('charge.refunded', { amountRefunded: 2_000 })],
  });
  refunded.txns.push(txns.refund({ refundId, chargeId: refunded.chargeId, paymentIntentId: refunded.paymentIntentId, amount: 2_000 }));
  const disputeId = uniqueId('dp');
  const disputed = await paidInvoice(rig, {
    amount: 7_000,
    fee: 233,
    number: options.numbers?.[2],
    extra: (pay) => [pay.dispute('charge.dispute.created', { id: disputeId, amount: 7_000, status: 'needs_response' })],
  });
  disputed.txns.push(txns.dispute({ disputeId, chargeId: disputed.chargeId, paymentIntentId: disputed.paymentIntentId, amount: 7_000 }));
  const radar = txns.stripeFee({ amount: 5 });

  const items = [...plain.txns, ...refunded.txns, ...disputed.txns, radar];
  const itemsNet = sumNet(items);
  const amount = itemsNet + (options.skew ?? 0);
  const payout = payoutEvents({ amount, arrivalDate: options.arrivalDate });
  rig.balance.set(payout.id, [txns.payout({ payoutId: payout.id, amount, id: payout.balanceTransactionId }), ...items]);
  return { payout, amount, itemsNet, items, invoices: { plain, refunded, disputed } };
}
