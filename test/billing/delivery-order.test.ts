import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { createInvoice, deliverInOrder, getInvoice } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { uniqueId } from '../helpers/stripe-events.js';
import { inParallel, permutations } from '../helpers/orderings.js';

/** The invoice as an accountant sees it, without the ids that differ from one run of a lifecycle to the next. */
function comparable(invoice: Awaited<ReturnType<typeof getInvoice>>) {
  const byAmountAndStatus = (a: { amount: number; status: string }, b: { amount: number; status: string }) =>
    a.amount - b.amount || a.status.localeCompare(b.status);
  return {
    status: invoice.status,
    amountPaid: invoice.amountPaid,
    amountRefunded: invoice.amountRefunded,
    amountDisputed: invoice.amountDisputed,
    needsReview: invoice.needsReview,
    payments: invoice.payments.map((p: { status: string; amountReceived: number; failures: unknown[]; charges: { amountCaptured: number; amountRefunded: number }[] }) => ({
      status: p.status,
      amountReceived: p.amountReceived,
      failures: p.failures.length,
      charges: p.charges.map((c) => ({ amountCaptured: c.amountCaptured, amountRefunded: c.amountRefunded })),
    })),
    refunds: invoice.refunds.map((r: { amount: number; status: string }) => ({ amount: r.amount, status: r.status })).sort(byAmountAndStatus),
    disputes: invoice.disputes.map((d: { amount: number; status: string }) => ({ amount: d.amount, status: d.status })).sort(byAmountAndStatus),
  };
}

/** Redelivers one event (same id) and sends one change again under a new event id, at positions that vary with k. */
function withDuplicates(events: Stripe.Event[], k: number): Stripe.Event[] {
  const out = [...events];
  const redelivered = events[k % events.length]!;
  out.splice((k * 7) % (out.length + 1), 0, redelivered);
  const resent = structuredClone(events[(k + 1) % events.length]!);
  resent.id = uniqueId('evt');
  out.splice((k * 3) % (out.length + 1), 0, resent);
  return out;
}

type Lifecycle = {
  name: string;
  amountDue: number;
  /** The events in the order Stripe would send them, for a fresh payment of a fresh invoice. */
  natural: (invoiceId: string) => Stripe.Event[];
  expected: Partial<ReturnType<typeof comparable>>;
};

const lifecycles: Lifecycle[] = [
  {
    name: 'partial capture of 600 of 1000 (API before 2025-03-31: the rest reported as refunded)',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000, apiVersion: '2024-06-20' });
      return [
        p.charge('charge.succeeded', { captured: false }),
        p.charge('charge.captured', { amountCaptured: 600, amountRefunded: 400 }),
        p.charge('charge.refunded', { amountCaptured: 600, amountRefunded: 400 }),
        p.paymentIntent('payment_intent.succeeded', { amountReceived: 600 }),
      ];
    },
    expected: { status: 'partially_paid', amountPaid: 600, amountRefunded: 0 },
  },
  {
    name: 'a card refund that fails, reported as charge.refund.updated (API before 2024-10-28)',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000, apiVersion: '2024-06-20' });
      const re = uniqueId('re');
      return [
        p.paymentIntent('payment_intent.succeeded'),
        p.charge('charge.refunded', { amountRefunded: 500 }),
        p.refund('charge.refund.updated', { id: re, amount: 500, status: 'succeeded' }),
        p.refund('charge.refund.updated', { id: re, amount: 500, status: 'failed' }),
      ];
    },
    expected: { status: 'paid', amountPaid: 1000, amountRefunded: 0 },
  },
  {
    name: 'an inquiry escalates: warning_needs_response → needs_response → funds withdrawn',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000 });
      const dp = uniqueId('dp');
      return [
        p.paymentIntent('payment_intent.succeeded'),
        p.dispute('charge.dispute.created', { id: dp, amount: 1000, status: 'warning_needs_response' }),
        p.dispute('charge.dispute.updated', { id: dp, amount: 1000, status: 'needs_response' }),
        p.dispute('charge.dispute.funds_withdrawn', { id: dp, amount: 1000, status: 'needs_response' }),
      ];
    },
    expected: { status: 'disputed', amountPaid: 1000, amountDisputed: 1000 },
  },
  {
    name: 'pay → partial refund → further refund',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000 });
      const [re1, re2] = [uniqueId('re'), uniqueId('re')];
      return [
        p.paymentIntent('payment_intent.succeeded'),
        p.refund('refund.created', { id: re1, amount: 300, status: 'succeeded' }),
        p.charge('charge.refunded', { amountRefunded: 300 }),
        p.refund('refund.created', { id: re2, amount: 700, status: 'succeeded' }),
        p.charge('charge.refunded', { amountRefunded: 1000 }),
      ];
    },
    expected: { status: 'refunded', amountPaid: 1000, amountRefunded: 1000 },
  },
  {
    name: 'pay → dispute → won',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000 });
      const dp = uniqueId('dp');
      return [
        p.paymentIntent('payment_intent.succeeded'),
        p.charge('charge.succeeded'),
        p.dispute('charge.dispute.created', { id: dp, amount: 1000, status: 'needs_response' }),
        p.dispute('charge.dispute.closed', { id: dp, amount: 1000, status: 'won' }),
      ];
    },
    expected: { status: 'paid', amountPaid: 1000, amountDisputed: 0 },
  },
  {
    name: 'pay → dispute → lost',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000 });
      const dp = uniqueId('dp');
      return [
        p.paymentIntent('payment_intent.succeeded'),
        p.charge('charge.succeeded'),
        p.dispute('charge.dispute.created', { id: dp, amount: 1000, status: 'needs_response' }),
        p.dispute('charge.dispute.closed', { id: dp, amount: 1000, status: 'lost' }),
      ];
    },
    expected: { status: 'disputed', amountPaid: 1000, amountDisputed: 1000 },
  },
  {
    name: 'refund arriving before the payment',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000 });
      const re = uniqueId('re');
      return [
        p.paymentIntent('payment_intent.succeeded'),
        p.refund('refund.created', { id: re, amount: 400, status: 'pending' }),
        p.refund('refund.updated', { id: re, amount: 400, status: 'succeeded' }),
        p.charge('charge.refunded', { amountRefunded: 400 }),
      ];
    },
    expected: { status: 'partially_refunded', amountPaid: 1000, amountRefunded: 400 },
  },
  {
    name: 'a failed attempt, then success (failed delivered after succeeded)',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000 });
      return [
        p.paymentIntent('payment_intent.payment_failed'),
        p.paymentIntent('payment_intent.processing'),
        p.paymentIntent('payment_intent.succeeded'),
        p.charge('charge.succeeded'),
      ];
    },
    expected: { status: 'paid', amountPaid: 1000 },
  },
  {
    name: 'a refund that fails after the charge reported it',
    amountDue: 1000,
    natural: (invoiceId) => {
      const p = paymentEvents({ invoiceId, amount: 1000 });
      const re = uniqueId('re');
      return [
        p.paymentIntent('payment_intent.succeeded'),
        p.refund('refund.created', { id: re, amount: 500, status: 'pending' }),
        p.charge('charge.refunded', { amountRefunded: 500 }),
        p.refund('refund.failed', { id: re, amount: 500, status: 'failed' }),
      ];
    },
    expected: { status: 'paid', amountPaid: 1000, amountRefunded: 0 },
  },
];

describe('delivery order', function () {
  this.timeout(180_000);
  let t: TestService;
  before(async () => {
    t = await startTestService({ WORKER_CONCURRENCY: '8' });
  });
  after(() => t.stop());

  for (const lifecycle of lifecycles) {
    it(`${lifecycle.name}: every order, with duplicates, ends where the natural order ends`, async () => {
      // Build the lifecycle once to learn its length and the natural end state.
      const reference = await createInvoice(t, { amountDue: lifecycle.amountDue });
      const naturalEvents = lifecycle.natural(reference.id);
      await deliverInOrder(t, naturalEvents);
      const expected = comparable(await getInvoice(t, reference.id));
      assert.deepEqual({ ...expected, ...lifecycle.expected }, expected, 'the natural order ends in the state the lifecycle describes');

      const orders = permutations(naturalEvents.map((_, i) => i));
      const outcomes = await inParallel(
        orders.map((order, k) => async () => {
          const invoice = await createInvoice(t, { amountDue: lifecycle.amountDue });
          const events = lifecycle.natural(invoice.id);
          const settled = await deliverInOrder(t, withDuplicates(order.map((i) => events[i]!), k));
          return { order, settled, state: comparable(await getInvoice(t, invoice.id)) };
        }),
        8,
      );
      for (const { order, settled, state } of outcomes) {
        assert.ok(settled.every((s) => s.status !== 'failed'), `order ${order.join(',')}: an event failed: ${JSON.stringify(settled)}`);
        assert.deepEqual(state, expected, `order ${order.join(',')} (with duplicates)`);
      }
      assert.equal(outcomes.length, orders.length);
    });
  }
});
