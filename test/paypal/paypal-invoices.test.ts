import assert from 'node:assert/strict';
import type { TestService } from '../helpers/test-service.js';
import { startTwoGateways, type TwoGateways } from '../helpers/two-gateways.js';
import type { FakePaypal } from '../helpers/fake-paypal.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { auth } from '../helpers/billing-client.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { connectPaypal, type PaypalMerchant } from '../helpers/paypal-merchant.js';
import { captureResource, disputeResource, orderResource, paypalEvent, paypalId, refundResource } from '../helpers/paypal-events.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { inParallel, permutations } from '../helpers/orderings.js';


type PaypalEvent = Record<string, unknown> & { id: string };

/**
 * PayPal's events on the invoices: every handled type, the same facts and invoice states as
 * Stripe's whatever the gateway (an invoice paid half by card and half by PayPal is paid), the
 * same account, unmatched-payment and delivery-order rules. Deliveries signed by the fake PayPal.
 */
describe('PayPal events on the invoices', function () {
  this.timeout(180_000);
  let paypal: FakePaypal;
  let stripe: Awaited<ReturnType<typeof startFakeStripe>>;
  let t: TestService;
  /** Stripe (test mode) and PayPal (sandbox) on one merchant account. */
  let card: Merchant;
  let pp: PaypalMerchant;

  const invoice = async (id: string) => {
    const res = await t.http.get(`/api/invoices/${id}`).set(auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };
  const ev = (type: string, resource: Record<string, unknown>) => paypalEvent(type, resource) as PaypalEvent;
  /** One PayPal capture of `value` for `invoiceId` and the events about it, each a second after the last. */
  const lifecycle = (invoiceId: string | undefined, value = '10.00') => {
    const captureId = paypalId();
    let clock = Date.parse('2026-11-30T09:00:00Z');
    const next = () => new Date((clock += 1000));
    return {
      captureId,
      /** A completed capture carries its seller_receivable_breakdown unless `breakdown: false`. */
      capture: (status: 'COMPLETED' | 'PENDING' | 'DECLINED', type = `PAYMENT.CAPTURE.${status === 'DECLINED' ? 'DENIED' : status}`, o: { breakdown?: boolean } = {}) =>
        ev(type, captureResource({ id: captureId, value, status, customId: invoiceId, created: next(), ...(status === 'COMPLETED' && o.breakdown !== false && { fee: '0.59', net: '9.41' }) })),
      refund: (amount: string, o: { id?: string; status?: 'COMPLETED' | 'PENDING' | 'FAILED' | 'CANCELLED'; type?: string; fee?: string; net?: string } = {}) =>
        ev(o.type ?? 'PAYMENT.CAPTURE.REFUNDED', refundResource({ id: o.id, value: amount, captureId, status: o.status, customId: invoiceId, created: next(), fee: o.fee, net: o.net })),
      dispute: (id: string, o: { status?: 'OPEN' | 'RESOLVED' | 'UNDER_REVIEW'; outcome?: 'RESOLVED_BUYER_FAVOUR' | 'RESOLVED_SELLER_FAVOUR' } = {}) =>
        ev(o.status === 'RESOLVED' ? 'CUSTOMER.DISPUTE.RESOLVED' : 'CUSTOMER.DISPUTE.CREATED', disputeResource({ id, value, captureId, custom: invoiceId, created: next(), ...o })),
    };
  };

  let gateways: TwoGateways | undefined;

  before(async () => {
    gateways = await startTwoGateways('Acme Plumbing', { WORKER_CONCURRENCY: '8' });
    ({ paypal, stripe, t, card, pp } = gateways);
  });
  after(async () => {
    await gateways?.stop();
  });

  it('PAYMENT.CAPTURE.PENDING then .COMPLETED: pending holds no money, completed pays the invoice named by custom_id, the payment is PayPal\'s', async () => {
    const invoiceId = await card.invoice(1000);
    const p = lifecycle(invoiceId);
    assert.equal((await pp.deliver(p.capture('PENDING'))).status, 'processed');
    let seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid], ['open', 0]);
    assert.deepEqual(
      seen.payments.map((x: Record<string, unknown>) => [x.id, x.gateway, x.status, x.amountReceived, x.paymentIntentId]),
      [[p.captureId, 'paypal', 'pending', 0, null]],
    );
    assert.equal((await pp.deliver(p.capture('COMPLETED'))).status, 'processed');
    seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid], ['paid', 1000]);
    assert.deepEqual(seen.payments.map((x: Record<string, unknown>) => [x.gateway, x.status, x.amount, x.amountReceived]), [['paypal', 'completed', 1000, 1000]]);
  });

  it('PAYMENT.CAPTURE.DENIED: the payment is declined and the invoice stays open; a late PENDING does not bring it back', async () => {
    const invoiceId = await card.invoice(1000);
    const p = lifecycle(invoiceId);
    const pending = p.capture('PENDING');
    await pp.deliver(p.capture('DECLINED'));
    assert.deepEqual(await pp.deliver(pending).then((s) => [s.status, s.reason]), ['ignored', 'stale']);
    const seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid, seen.payments[0].status], ['open', 0, 'declined']);
  });

  it('PAYMENT.CAPTURE.REFUNDED and .REVERSED: money back, each a refund of the capture with its gateway', async () => {
    const invoiceId = await card.invoice(1000);
    const p = lifecycle(invoiceId);
    await pp.deliver(p.capture('COMPLETED'));
    const refundId = paypalId();
    await pp.deliver(p.refund('4.00', { id: refundId }));
    let seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid, seen.amountRefunded], ['partially_refunded', 1000, 400]);
    assert.deepEqual(seen.refunds.map((r: Record<string, unknown>) => [r.id, r.gateway, r.paymentId, r.amount, r.status, r.reason]), [[refundId, 'paypal', p.captureId, 400, 'succeeded', null]]);
    await pp.deliver(p.refund('6.00', { type: 'PAYMENT.CAPTURE.REVERSED' }));
    seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountRefunded], ['refunded', 1000]);
    assert.deepEqual(seen.refunds.map((r: Record<string, unknown>) => r.reason).sort(), [null, 'reversal'].sort());
  });

  it('a refund PayPal fails or cancels gives the money back to the invoice', async () => {
    const invoiceId = await card.invoice(1000);
    const p = lifecycle(invoiceId);
    const id = paypalId();
    await pp.deliver(p.capture('COMPLETED'));
    await pp.deliver(p.refund('10.00', { id, status: 'PENDING' }));
    assert.equal((await invoice(invoiceId)).status, 'refunded');
    await pp.deliver(p.refund('10.00', { id, status: 'FAILED' }));
    const seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountRefunded, seen.refunds[0].status], ['paid', 0, 'failed']);
  });

  it('CUSTOMER.DISPUTE.CREATED / .RESOLVED: disputed while open; won gives the invoice back, lost keeps it disputed', async () => {
    for (const [outcome, status, expected] of [
      ['RESOLVED_SELLER_FAVOUR', 'won', 'paid'],
      ['RESOLVED_BUYER_FAVOUR', 'lost', 'disputed'],
    ] as const) {
      const invoiceId = await card.invoice(1000);
      const p = lifecycle(invoiceId);
      const disputeId = `PP-D-${paypalId(6)}`;
      await pp.deliver(p.capture('COMPLETED'));
      await pp.deliver(p.dispute(disputeId));
      let seen = await invoice(invoiceId);
      assert.deepEqual([seen.status, seen.amountDisputed], ['disputed', 1000]);
      assert.deepEqual(seen.disputes.map((d: Record<string, unknown>) => [d.id, d.gateway, d.paymentId, d.status]), [[disputeId, 'paypal', p.captureId, 'needs_response']]);
      await pp.deliver(p.dispute(disputeId, { status: 'RESOLVED', outcome }));
      seen = await invoice(invoiceId);
      assert.deepEqual([seen.status, seen.disputes[0].status], [expected, status], outcome);
    }
  });

  it('CHECKOUT.ORDER.APPROVED links only: an order not captured yet has nothing to link; one captured links its capture to the invoice', async () => {
    const invoiceId = await card.invoice(1000);
    const approved = ev('CHECKOUT.ORDER.APPROVED', orderResource({ value: '10.00', customId: invoiceId }));
    assert.deepEqual(await pp.deliver(approved).then((s) => [s.status, s.reason]), ['ignored', 'no_capture']);
    // A capture that names no invoice is an unmatched payment, recorded; the order names the invoice.
    const p = lifecycle(undefined);
    await pp.deliver(p.capture('COMPLETED'));
    const [unmatched] = await t.query<{ invoice_id: string | null; unmatched_reason: string; gateway: string }>('SELECT invoice_id, unmatched_reason, gateway FROM payments WHERE id = ?', [p.captureId]);
    assert.deepEqual(unmatched, { invoice_id: null, unmatched_reason: 'no_invoice_reference', gateway: 'paypal' });
    const captured = ev('CHECKOUT.ORDER.APPROVED', orderResource({ value: '10.00', customId: invoiceId, status: 'COMPLETED', captures: [captureResource({ id: p.captureId, value: '10.00' })] }));
    assert.equal((await pp.deliver(captured)).status, 'processed');
    const seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid, seen.payments[0].id], ['paid', 1000, p.captureId]);
    assert.equal((await invoice(invoiceId)).amountRefunded, 0);
  });

  it('an invoice paid half by card (Stripe) and half by PayPal is paid; a PayPal refund after it leaves the card half', async () => {
    const invoiceId = await card.invoice(2000);
    const byCard = paymentEvents({ invoiceId, amount: 1000 });
    const succeeded = byCard.paymentIntent('payment_intent.succeeded');
    await card.deliver(succeeded);
    assert.equal((await card.settled(succeeded.id)).status, 'processed');
    assert.equal((await invoice(invoiceId)).status, 'partially_paid');
    const p = lifecycle(invoiceId);
    await pp.deliver(p.capture('COMPLETED'));
    let seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid], ['paid', 2000]);
    assert.deepEqual(seen.payments.map((x: Record<string, unknown>) => x.gateway).sort(), ['paypal', 'stripe']);
    await pp.deliver(p.refund('10.00'));
    seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid, seen.amountRefunded], ['partially_refunded', 2000, 1000]);
    assert.deepEqual(seen.refunds.map((r: Record<string, unknown>) => [r.gateway, r.paymentId]), [['paypal', p.captureId]]);
  });

  it('a live PayPal connection on an account whose Stripe key is in test mode: its events apply (the mode is the PayPal connection\'s, not the Stripe key\'s)', async () => {
    const mixed = await connectMerchant(t, stripe, 'Live PayPal, test Stripe');
    const live = await connectPaypal(t, paypal, mixed.accountId, 'live');
    const invoiceId = await mixed.invoice(1000);
    const p = lifecycle(invoiceId);
    const event = p.capture('COMPLETED');
    assert.deepEqual(await live.deliver(event).then((x) => [x.status, x.reason]), ['processed', null]);
    const [row] = await t.query<{ livemode: number }>('SELECT livemode FROM stripe_events WHERE id = ?', [event.id]);
    assert.equal(Number(row!.livemode), 1);
    assert.equal((await invoice(invoiceId)).status, 'paid');
  });

  it('account-scoped as Stripe\'s facts: another merchant cannot refund this one\'s capture, nor pay into another account\'s invoice', async () => {
    const otherCard = await connectMerchant(t, stripe, 'Other Books');
    const other = await connectPaypal(t, paypal, otherCard.accountId);
    const invoiceId = await card.invoice(1000);
    const p = lifecycle(invoiceId);
    await pp.deliver(p.capture('COMPLETED'));
    // The other merchant's PayPal reports a refund of this merchant's capture id.
    assert.deepEqual(await other.deliver(p.refund('10.00')).then((x) => [x.status, x.reason]), ['ignored', 'account_mismatch']);
    assert.deepEqual([(await invoice(invoiceId)).status, (await invoice(invoiceId)).amountRefunded], ['paid', 0]);
    // Its capture naming this merchant's invoice is recorded as its own unmatched payment.
    const q = lifecycle(invoiceId);
    assert.equal((await other.deliver(q.capture('COMPLETED'))).status, 'processed');
    const [payment] = await t.query<{ invoice_id: string | null; unmatched_reason: string }>('SELECT invoice_id, unmatched_reason FROM payments WHERE id = ?', [q.captureId]);
    assert.deepEqual(payment, { invoice_id: null, unmatched_reason: 'account_mismatch' });
    assert.equal((await invoice(invoiceId)).amountPaid, 1000);
  });

  it('the drift check against Stripe leaves PayPal\'s payments, refunds and disputes out: they are not Stripe\'s to list', async () => {
    const merchant = await connectMerchant(t, stripe, 'PayPal only so far');
    const paid = await connectPaypal(t, paypal, merchant.accountId);
    const from = new Date(Date.parse('2026-11-30T08:00:00Z')).toISOString();
    const p = lifecycle(await merchant.invoice(1000));
    for (const event of [p.capture('COMPLETED'), p.refund('4.00'), p.dispute(`PP-D-${paypalId(6)}`)]) assert.equal((await paid.deliver(event)).status, 'processed');
    const res = await t.http.get('/api/ops/drift').query({ accountId: merchant.accountId, from, to: '2026-11-30T10:00:00Z' }).set(auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.differences, []);
    assert.deepEqual(res.body.checked, { paymentIntents: 0, charges: 0, refunds: 0, disputes: 0, payouts: 0 });
  });

  /** The invoice as an accountant sees it, without the ids that differ between runs. */
  const comparable = (seen: Record<string, unknown> & { payments: Record<string, unknown>[]; refunds: Record<string, unknown>[]; disputes: Record<string, unknown>[] }) => ({
    status: seen.status,
    amountPaid: seen.amountPaid,
    amountRefunded: seen.amountRefunded,
    amountDisputed: seen.amountDisputed,
    payments: seen.payments.map((x) => [x.gateway, x.status, x.amountReceived, x.fee, x.net]),
    refunds: seen.refunds.map((r) => [r.gateway, r.amount, r.status, r.reason, r.fee, r.net]).sort(),
    disputes: seen.disputes.map((d) => [d.gateway, d.amount, d.status]).sort(),
  });

  /** Redelivers one event (same id) and sends one change again under a new event id, at positions that vary with k. */
  const withDuplicates = (events: PaypalEvent[], k: number) => {
    const out = [...events];
    out.splice((k * 7) % (out.length + 1), 0, events[k % events.length]!);
    out.splice((k * 3) % (out.length + 1), 0, { ...events[(k + 1) % events.length]!, id: `WH-${paypalId()}-${paypalId()}` });
    return out;
  };

  const lifecycles: { name: string; natural: (invoiceId: string) => PaypalEvent[]; expected: Record<string, unknown> }[] = [
    {
      name: 'pending → completed → refunded in part → a second refund that fails',
      natural: (invoiceId) => {
        const p = lifecycle(invoiceId);
        const re = paypalId();
        // Fee and net come with the completed capture and the completed refund only (PayPal sends no breakdown while pending).
        return [p.capture('PENDING'), p.capture('COMPLETED'), p.refund('4.00', { fee: '0.12', net: '3.88' }), p.refund('6.00', { id: re, status: 'PENDING' }), p.refund('6.00', { id: re, status: 'FAILED' })];
      },
      expected: {
        status: 'partially_refunded',
        amountPaid: 1000,
        amountRefunded: 400,
        payments: [['paypal', 'completed', 1000, 59, 941]],
        refunds: [['paypal', 400, 'succeeded', null, 12, 388], ['paypal', 600, 'failed', null, null, null]].sort(),
      },
    },
    {
      name: 'pending → completed without its breakdown → completed again with it (an older event), refunded in full',
      natural: (invoiceId) => {
        const p = lifecycle(invoiceId);
        const withBreakdown = p.capture('COMPLETED');
        const bare = p.capture('COMPLETED', undefined, { breakdown: false });
        return [p.capture('PENDING'), withBreakdown, bare, p.refund('10.00', { fee: '0.29', net: '9.71' })];
      },
      expected: { status: 'refunded', payments: [['paypal', 'completed', 1000, 59, 941]], refunds: [['paypal', 1000, 'succeeded', null, 29, 971]] },
    },
    {
      name: 'a refund pending (no breakdown) → completed with its breakdown → the same refund re-sent without it',
      natural: (invoiceId) => {
        const p = lifecycle(invoiceId);
        const re = paypalId();
        return [p.capture('COMPLETED'), p.refund('10.00', { id: re, status: 'PENDING' }), p.refund('10.00', { id: re, fee: '0.29', net: '9.71' }), p.refund('10.00', { id: re })];
      },
      expected: { status: 'refunded', amountRefunded: 1000, refunds: [['paypal', 1000, 'succeeded', null, 29, 971]] },
    },
    {
      name: 'completed → disputed → resolved for the buyer → reversed',
      natural: (invoiceId) => {
        const p = lifecycle(invoiceId);
        const dp = `PP-D-${paypalId(6)}`;
        return [p.capture('COMPLETED'), p.dispute(dp), p.dispute(dp, { status: 'RESOLVED', outcome: 'RESOLVED_BUYER_FAVOUR' }), p.refund('10.00', { type: 'PAYMENT.CAPTURE.REVERSED' })];
      },
      expected: { status: 'disputed', amountPaid: 1000, amountDisputed: 1000, amountRefunded: 1000 },
    },
    {
      name: 'completed → disputed → under review → resolved for the seller',
      natural: (invoiceId) => {
        const p = lifecycle(invoiceId);
        const dp = `PP-D-${paypalId(6)}`;
        return [p.capture('COMPLETED'), p.dispute(dp), p.dispute(dp, { status: 'UNDER_REVIEW' }), p.dispute(dp, { status: 'RESOLVED', outcome: 'RESOLVED_SELLER_FAVOUR' })];
      },
      expected: { status: 'paid', amountPaid: 1000, amountDisputed: 0 },
    },
  ];

  for (const cycle of lifecycles) {
    it(`delivery order: ${cycle.name}: every order, with duplicates, ends where the natural order ends`, async () => {
      const reference = await card.invoice(1000);
      for (const event of cycle.natural(reference)) await pp.deliver(event);
      const expected = comparable(await invoice(reference));
      assert.deepEqual({ ...expected, ...cycle.expected }, expected, 'the natural order ends in the state the lifecycle describes');

      const orders = permutations(cycle.natural(reference).map((_, i) => i));
      const outcomes = await inParallel(
        orders.map((order, k) => async () => {
          const invoiceId = await card.invoice(1000);
          const events = cycle.natural(invoiceId);
          const settled = [];
          for (const event of withDuplicates(order.map((i) => events[i]!), k)) settled.push(await pp.deliver(event));
          return { order, settled, state: comparable(await invoice(invoiceId)) };
        }),
        8,
      );
      for (const { order, settled, state } of outcomes) {
        assert.ok(settled.every((x) => x.status !== 'failed'), `order ${order.join(',')}: an event failed: ${JSON.stringify(settled)}`);
        assert.deepEqual(state, expected, `order ${order.join(',')} (with duplicates)`);
      }
    });
  }
});
