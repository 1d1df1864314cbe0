import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { createInvoice, deliverInOrder, getInvoice } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { uniqueId } from '../helpers/stripe-events.js';
import { HANDLED_EVENT_TYPES, SUBSCRIBED_EVENT_TYPES, eventHandlers } from '../../src/events/subscribed-events.js';
import { assertRegistryMatches } from '../../src/events/handler-registry.js';

type Invoice = Awaited<ReturnType<typeof getInvoice>>;

describe('event handlers', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('have exactly one handler per subscribed type, and start-up fails naming a type without one', () => {
    // Both gateways' types: Stripe's subscribed at Stripe, PayPal's at PayPal (src/paypal/event-types.ts).
    assert.doesNotThrow(() => assertRegistryMatches(eventHandlers, HANDLED_EVENT_TYPES));
    assert.throws(() => assertRegistryMatches(eventHandlers, SUBSCRIBED_EVENT_TYPES), /handlers for types not subscribed: PAYMENT\.CAPTURE\.COMPLETED/);
    assert.throws(
      () => assertRegistryMatches(eventHandlers, [...HANDLED_EVENT_TYPES, 'invoice.paid']),
      /no handler for invoice\.paid: add one to the registry/,
    );
    for (const type of [
      'payment_intent.succeeded',
      'payment_intent.payment_failed',
      'payment_intent.processing',
      'payment_intent.canceled',
      'charge.succeeded',
      'charge.refunded',
      'refund.created',
      'refund.updated',
      'refund.failed',
      'charge.dispute.created',
      'charge.dispute.closed',
      'checkout.session.completed',
      'charge.captured',
      'charge.expired',
      'charge.refund.updated',
      'charge.dispute.updated',
      'charge.dispute.funds_withdrawn',
      'charge.dispute.funds_reinstated',
    ]) {
      assert.ok(SUBSCRIBED_EVENT_TYPES.includes(type), `${type} is handled`);
    }
  });

  // One Stripe-shaped event per handled type, with what it must do to its invoice.
  type Pay = ReturnType<typeof paymentEvents>;
  const table: { type: string; before: (p: Pay) => Stripe.Event[]; event: (p: Pay) => Stripe.Event; expect: (invoice: Invoice) => void }[] = [
    {
      type: 'payment_intent.succeeded',
      before: () => [],
      event: (p) => p.paymentIntent('payment_intent.succeeded'),
      expect: (i) => {
        assert.equal(i.status, 'paid');
        assert.equal(i.amountPaid, 1000);
        assert.equal(i.payments[0].status, 'succeeded');
      },
    },
    {
      type: 'payment_intent.processing',
      before: () => [],
      event: (p) => p.paymentIntent('payment_intent.processing'),
      expect: (i) => {
        assert.equal(i.status, 'open');
        assert.equal(i.payments[0].status, 'processing');
      },
    },
    {
      type: 'payment_intent.payment_failed',
      before: () => [],
      event: (p) => p.paymentIntent('payment_intent.payment_failed', { declineMessage: 'Your card was declined.' }),
      expect: (i) => {
        assert.equal(i.status, 'open', 'a failed attempt leaves the invoice open');
        assert.equal(i.payments[0].failures.length, 1);
        assert.equal(i.payments[0].failures[0].message, 'Your card was declined.');
        assert.equal(i.payments[0].failures[0].declineCode, 'insufficient_funds');
      },
    },
    {
      type: 'payment_intent.canceled',
      before: () => [],
      event: (p) => p.paymentIntent('payment_intent.canceled'),
      expect: (i) => {
        assert.equal(i.status, 'open');
        assert.equal(i.payments[0].status, 'canceled');
      },
    },
    {
      type: 'charge.succeeded',
      before: (p) => [p.paymentIntent('payment_intent.processing')],
      event: (p) => p.charge('charge.succeeded'),
      expect: (i) => {
        assert.equal(i.status, 'paid', 'a captured charge is money received even before payment_intent.succeeded');
        assert.equal(i.amountPaid, 1000);
        assert.equal(i.payments[0].charges[0].amountCaptured, 1000);
      },
    },
    {
      type: 'charge.refunded',
      before: (p) => [p.paymentIntent('payment_intent.succeeded')],
      event: (p) => p.charge('charge.refunded', { amountRefunded: 250 }),
      expect: (i) => {
        assert.equal(i.status, 'partially_refunded');
        assert.equal(i.amountRefunded, 250);
      },
    },
    {
      type: 'refund.created',
      before: (p) => [p.paymentIntent('payment_intent.succeeded')],
      event: (p) => p.refund('refund.created', { id: uniqueId('re'), amount: 1000, status: 'succeeded' }),
      expect: (i) => {
        assert.equal(i.status, 'refunded');
        assert.equal(i.amountRefunded, 1000);
        assert.equal(i.refunds[0].status, 'succeeded');
      },
    },
    {
      type: 'refund.updated',
      before: (p) => [p.paymentIntent('payment_intent.succeeded'), p.refund('refund.created', { id: 're_updated_1', amount: 400, status: 'pending' })],
      event: (p) => p.refund('refund.updated', { id: 're_updated_1', amount: 400, status: 'succeeded' }),
      expect: (i) => {
        assert.equal(i.status, 'partially_refunded');
        assert.equal(i.refunds[0].status, 'succeeded');
      },
    },
    {
      type: 'refund.failed',
      before: (p) => [p.paymentIntent('payment_intent.succeeded'), p.refund('refund.created', { id: 're_failed_1', amount: 400, status: 'pending' })],
      event: (p) => p.refund('refund.failed', { id: 're_failed_1', amount: 400, status: 'failed' }),
      expect: (i) => {
        assert.equal(i.status, 'paid', 'a failed refund gives nothing back');
        assert.equal(i.amountRefunded, 0);
        assert.equal(i.refunds[0].failureReason, 'expired_or_canceled_card');
      },
    },
    {
      type: 'charge.dispute.created',
      before: (p) => [p.paymentIntent('payment_intent.succeeded')],
      event: (p) => p.dispute('charge.dispute.created', { id: uniqueId('dp'), amount: 1000, status: 'needs_response' }),
      expect: (i) => {
        assert.equal(i.status, 'disputed');
        assert.equal(i.amountDisputed, 1000);
      },
    },
    {
      type: 'charge.dispute.closed',
      before: (p) => [p.paymentIntent('payment_intent.succeeded'), p.dispute('charge.dispute.created', { id: 'dp_closed_1', amount: 1000, status: 'needs_response' })],
      event: (p) => p.dispute('charge.dispute.closed', { id: 'dp_closed_1', amount: 1000, status: 'won' }),
      expect: (i) => {
        assert.equal(i.status, 'paid', 'a won dispute gives the invoice back its paid state');
        assert.equal(i.disputes[0].status, 'won');
      },
    },
    {
      type: 'checkout.session.completed',
      before: () => [],
      event: (p) => p.checkoutCompleted(),
      expect: (i) => {
        assert.equal(i.payments.length, 1, 'the session links its PaymentIntent to the invoice');
        assert.equal(i.status, 'open', 'money is counted from payment events, not from the session');
      },
    },
  ];

  for (const row of table) {
    it(`${row.type}: applies a Stripe-shaped, signed event through the endpoint and the worker`, async () => {
      const invoice = await createInvoice(t, { amountDue: 1000 });
      // Ids must be unique per test run: refund and dispute ids above are made unique here.
      const p = paymentEvents({ invoiceId: invoice.id, amount: 1000 });
      const suffix = uniqueId('x').slice(2);
      const fix = (e: Stripe.Event) => {
        const o = e.data.object as unknown as { id: string };
        if (/^(re|dp)_(updated|failed|closed)_1$/.test(o.id)) o.id = `${o.id}_${suffix}`;
        return e;
      };
      const results = await deliverInOrder(t, [...row.before(p).map(fix), fix(row.event(p))]);
      assert.deepEqual(results.map((r) => r.status), results.map(() => 'processed'), JSON.stringify(results));
      row.expect(await getInvoice(t, invoice.id));
    });
  }

  it('stores a payment that names no invoice as unmatched, without failing or retrying', async () => {
    const p = paymentEvents({ invoiceId: null, amount: 700 });
    const [result] = await deliverInOrder(t, [p.paymentIntent('payment_intent.succeeded')]);
    assert.equal(result!.status, 'processed');
    assert.equal(result!.attempts, 1);
    const [payment] = await t.query<{ invoice_id: string | null; unmatched_reason: string; amount_received: number }>(
      'SELECT invoice_id, unmatched_reason, amount_received FROM payments WHERE id = ?',
      [p.paymentIntentId],
    );
    assert.deepEqual({ ...payment }, { invoice_id: null, unmatched_reason: 'no_invoice_reference', amount_received: 700 });
  });

  it('stores a payment naming an invoice that does not exist as unmatched (invoice_not_found)', async () => {
    const p = paymentEvents({ invoiceId: 'inv_doesnotexist', amount: 700 });
    await deliverInOrder(t, [p.paymentIntent('payment_intent.succeeded')]);
    const [payment] = await t.query<{ unmatched_reason: string }>('SELECT unmatched_reason FROM payments WHERE id = ?', [p.paymentIntentId]);
    assert.equal(payment!.unmatched_reason, 'invoice_not_found');
  });

  it('does not mark an invoice paid by a payment in another currency, and flags it for review with the reason', async () => {
    const invoice = await createInvoice(t, { currency: 'usd', amountDue: 1000 });
    const p = paymentEvents({ invoiceId: invoice.id, amount: 1000, currency: 'eur' });
    await deliverInOrder(t, [p.paymentIntent('payment_intent.succeeded')]);
    const after = await getInvoice(t, invoice.id);
    assert.equal(after.status, 'open');
    assert.equal(after.amountPaid, 0);
    assert.equal(after.needsReview, true);
    assert.match(after.reviewReason, new RegExp(`payment ${p.paymentIntentId} of 1000 eur does not match the invoice currency usd`));
  });

  it('records an older event that arrives after a newer state as ignored (stale), not applied', async () => {
    const invoice = await createInvoice(t);
    const p = paymentEvents({ invoiceId: invoice.id, amount: 1000 });
    const results = await deliverInOrder(t, [p.paymentIntent('payment_intent.succeeded', { created: 200 }), p.paymentIntent('payment_intent.processing', { created: 100 })]);
    assert.deepEqual(results.map((r) => [r.status, r.reason]), [['processed', null], ['ignored', 'stale']]);
    const after = await getInvoice(t, invoice.id);
    assert.equal(after.payments[0].status, 'succeeded', 'a PaymentIntent never goes back from succeeded');
  });

  it('pays a JPY invoice exactly in yen', async () => {
    const invoice = await createInvoice(t, { currency: 'jpy', amountDue: 5000 });
    const p = paymentEvents({ invoiceId: invoice.id, amount: 5000, currency: 'jpy' });
    await deliverInOrder(t, [p.paymentIntent('payment_intent.succeeded')]);
    const after = await getInvoice(t, invoice.id);
    assert.deepEqual([after.status, after.amountPaid], ['paid', 5000]);
  });

  it('changes nothing when the same change arrives again as a different event', async () => {
    const invoice = await createInvoice(t);
    const p = paymentEvents({ invoiceId: invoice.id, amount: 1000 });
    const refundId = uniqueId('re');
    await deliverInOrder(t, [p.paymentIntent('payment_intent.succeeded'), p.refund('refund.created', { id: refundId, amount: 300, status: 'succeeded', created: 1_770_000_000 })]);
    const once = await getInvoice(t, invoice.id);
    await deliverInOrder(t, [p.refund('refund.updated', { id: refundId, amount: 300, status: 'succeeded', created: 1_770_000_000 })]);
    const twice = await getInvoice(t, invoice.id);
    assert.deepEqual({ ...twice, updatedAt: null }, { ...once, updatedAt: null });
    assert.equal(twice.amountRefunded, 300);
  });
});
