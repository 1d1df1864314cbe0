import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakeStripe, type FakeStripe } from '../helpers/fake-stripe.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { auth, getInvoice } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { uniqueId } from '../helpers/stripe-events.js';
import { createDataSource } from '../../src/db/data-source.js';
import { createEventProcessor } from '../../src/events/process-event.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';
import { FakeBalanceTransactions, txns } from '../helpers/fake-balance-transactions.js';
import { getPayout, itemsSettled } from '../helpers/reconciliation-client.js';

/**
 * Issue 12, tenants: every merchant holds its own signing secret, so it can sign any payload for its
 * own endpoint. A signed event proves which account sent it, not that the objects it names are that
 * account's. Merchant A signs events naming merchant B's dispute, refund, charge and payout: each ends
 * ignored (account_mismatch), B's state does not move, and B's own later events still apply.
 */
describe('tenant isolation: one merchant\'s signed events cannot touch another account\'s facts', () => {
  let t: TestService;
  let fake: FakeStripe;
  let a: Merchant;
  let b: Merchant;
  let balance: FakeBalanceTransactions;
  /** Far in the future: a forged event that got through would win every "newer event" ordering guard. */
  const LATER = 4_000_000_000;

  before(async () => {
    fake = await startFakeStripe();
    balance = new FakeBalanceTransactions(fake);
    t = await startTestService({ STRIPE_API_BASE: fake.url });
    a = await connectMerchant(t, fake, 'Mallory Ltd');
    b = await connectMerchant(t, fake, 'Bob Plumbing');
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  const outcome = async (merchant: Merchant, event: Stripe.Event) => {
    await merchant.deliver(event);
    const settled = await merchant.settled(event.id);
    return [settled.status, settled.reason];
  };
  const applyAll = async (merchant: Merchant, events: Stripe.Event[]) => {
    for (const event of events) assert.deepEqual(await outcome(merchant, event), ['processed', null], event.type);
  };
  const invoiceOfPayment = async (paymentId: string) =>
    (await t.query<{ invoice_id: string }>('SELECT invoice_id FROM payments WHERE id = ?', [paymentId]))[0]!.invoice_id;
  /** What B sees of its invoice: totals, status and every fact under it. */
  const invoiceState = async (invoiceId: string) => {
    const { status, amountPaid, amountRefunded, payments, refunds, disputes } = await getInvoice(t, invoiceId);
    return { status, amountPaid, amountRefunded, payments, refunds, disputes };
  };

  it('ignores (account_mismatch) a forged charge.dispute.closed naming another merchant\'s dispute; the dispute stays, and the real closing event applies', async () => {
    const invoice = await b.invoice(1000);
    const pay = paymentEvents({ invoiceId: invoice, amount: 1000 });
    const disputeId = uniqueId('dp');
    await applyAll(b, [
      pay.paymentIntent('payment_intent.succeeded'),
      pay.charge('charge.succeeded'),
      pay.dispute('charge.dispute.created', { id: disputeId, amount: 1000, status: 'needs_response' }),
    ]);
    const before = await invoiceState(invoice);
    assert.equal(before.status, 'disputed');

    // A signs, on its own endpoint, "B's dispute was won", under a new PaymentIntent of its own.
    const forged = paymentEvents({ invoiceId: null, amount: 1000 }).dispute('charge.dispute.closed', { id: disputeId, amount: 1000, status: 'won', created: LATER });
    assert.deepEqual(await outcome(a, forged), ['ignored', 'account_mismatch']);
    assert.deepEqual(await invoiceState(invoice), before);

    // B's real verdict is not taken for stale: it applies.
    assert.deepEqual(await outcome(b, pay.dispute('charge.dispute.closed', { id: disputeId, amount: 1000, status: 'lost' })), ['processed', null]);
    const after = await invoiceState(invoice);
    assert.deepEqual([after.status, after.disputes.map((d: { status: string }) => d.status)], ['disputed', ['lost']]);
  });

  it('ignores (account_mismatch) forged refund.updated and refund.failed that would cancel another merchant\'s refund; the real refund event applies', async () => {
    const invoice = await b.invoice(1000);
    const pay = paymentEvents({ invoiceId: invoice, amount: 1000 });
    const refundId = uniqueId('re');
    await applyAll(b, [
      pay.paymentIntent('payment_intent.succeeded'),
      pay.charge('charge.succeeded'),
      pay.refund('refund.created', { id: refundId, amount: 400, status: 'pending' }),
    ]);
    const before = await invoiceState(invoice);

    const mallory = paymentEvents({ invoiceId: null, amount: 400 });
    assert.deepEqual(await outcome(a, mallory.refund('refund.updated', { id: refundId, amount: 400, status: 'canceled', created: LATER })), ['ignored', 'account_mismatch']);
    assert.deepEqual(await outcome(a, mallory.refund('refund.failed', { id: refundId, amount: 400, status: 'failed', created: LATER + 1 })), ['ignored', 'account_mismatch']);
    assert.deepEqual(await invoiceState(invoice), before);

    assert.deepEqual(await outcome(b, pay.refund('refund.updated', { id: refundId, amount: 400, status: 'succeeded' })), ['processed', null]);
    const after = await invoiceState(invoice);
    assert.deepEqual([after.status, after.amountRefunded, after.refunds.map((r: { status: string }) => r.status)], ['partially_refunded', 400, ['succeeded']]);
  });

  it('ignores (account_mismatch) forged charge.succeeded and charge.refunded carrying another merchant\'s charge id under a PaymentIntent of the forger; the real charge.refunded applies', async () => {
    const invoice = await b.invoice(1000);
    const pay = paymentEvents({ invoiceId: invoice, amount: 1000 });
    await applyAll(b, [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]);
    const before = await invoiceState(invoice);
    assert.equal(before.status, 'paid');

    const mallory = paymentEvents({ invoiceId: null, amount: 5000, chargeId: pay.chargeId });
    assert.deepEqual(await outcome(a, mallory.charge('charge.succeeded', { created: LATER })), ['ignored', 'account_mismatch']);
    assert.deepEqual(await outcome(a, mallory.charge('charge.refunded', { amountRefunded: 5000, created: LATER + 1 })), ['ignored', 'account_mismatch']);
    const [charge] = await t.query<{ payment_id: string; amount_captured: number; amount_refunded: number }>(
      'SELECT payment_id, amount_captured, amount_refunded FROM charges WHERE id = ?',
      [pay.chargeId],
    );
    assert.deepEqual({ ...charge, amount_captured: Number(charge?.amount_captured), amount_refunded: Number(charge?.amount_refunded) }, {
      payment_id: pay.paymentIntentId,
      amount_captured: 1000,
      amount_refunded: 0,
    });

    assert.deepEqual(await outcome(b, pay.charge('charge.refunded', { amountRefunded: 300 })), ['processed', null]);
    const after = await invoiceState(invoice);
    assert.deepEqual([after.status, after.amountPaid, after.amountRefunded], ['partially_refunded', 1000, 300]);
  });

  it('ignores (account_mismatch) a forged payout event naming another merchant\'s payout; the payout stays, and the real payout event applies', async () => {
    const payout = payoutEvents({ amount: 7_000 });
    await applyAll(b, [payout.event('payout.paid')]);
    const forged = payout.event('payout.canceled', { created: LATER });
    (forged.data.object as { amount: number }).amount = 1;
    assert.deepEqual(await outcome(a, forged), ['ignored', 'account_mismatch']);
    const row = async () =>
      (await t.query<{ account_id: string; status: string; amount: number }>('SELECT account_id, status, amount FROM payouts WHERE id = ?', [payout.id])).map((r) => ({
        ...r,
        amount: Number(r.amount),
      }));
    assert.deepEqual(await row(), [{ account_id: b.accountId, status: 'paid', amount: 7_000 }]);

    assert.deepEqual(await outcome(b, payout.event('payout.failed')), ['processed', null]);
    assert.deepEqual(await row(), [{ account_id: b.accountId, status: 'failed', amount: 7_000 }]);
  });

  it('ignores (account_mismatch) a forged event about a PaymentIntent Pay Now made for another merchant, even before that merchant\'s own events arrive', async () => {
    const invoice = await b.invoice(2500);
    // The payer's browser gets the PaymentIntent's id (in its client secret): a merchant paying another's invoice learns it.
    const payNow = await t.http.post(`/api/invoices/${invoice}/payment-intent`).set(auth);
    assert.equal(payNow.status, 200, JSON.stringify(payNow.body));
    const stolen = payNow.body.paymentIntentId as string;
    const forged = paymentEvents({ invoiceId: null, amount: 1, paymentIntentId: stolen }).paymentIntent('payment_intent.succeeded', { created: LATER });
    assert.deepEqual(await outcome(a, forged), ['ignored', 'account_mismatch']);

    const real = paymentEvents({ invoiceId: invoice, amount: 2500, paymentIntentId: stolen });
    assert.deepEqual(await outcome(b, real.paymentIntent('payment_intent.succeeded')), ['processed', null]);
    const after = await invoiceState(invoice);
    assert.deepEqual([after.status, after.amountPaid], ['paid', 2500]);
  });

  it('reads a merchant\'s payout items as its own even when another merchant recorded one of its charge ids first', async () => {
    // The first payment to record an object id holds it: B's own charge event then ends account_mismatch
    // (documented). What B's payout moved is still read as B's: facts join payout items only within the payout's account.
    const invoice = await b.invoice(1000);
    const pay = paymentEvents({ invoiceId: invoice, amount: 1000 });
    const squatted = paymentEvents({ invoiceId: await a.invoice(1000), amount: 1000, chargeId: pay.chargeId });
    await applyAll(a, [squatted.paymentIntent('payment_intent.succeeded'), squatted.charge('charge.succeeded')]);
    assert.deepEqual(await outcome(b, pay.paymentIntent('payment_intent.succeeded')), ['processed', null]);
    assert.deepEqual(await outcome(b, pay.charge('charge.succeeded')), ['ignored', 'account_mismatch']);

    const payout = payoutEvents({ amount: 970 });
    balance.set(payout.id, [
      txns.charge({ chargeId: pay.chargeId, paymentIntentId: pay.paymentIntentId, amount: 1000, fee: 30 }),
      txns.payout({ payoutId: payout.id, amount: 970, id: payout.balanceTransactionId }),
    ]);
    await applyAll(b, [payout.event('payout.paid')]);
    assert.equal((await itemsSettled(t, payout.id)).items_status, 'done');
    const [item] = (await getPayout(t, payout.id)).items;
    assert.deepEqual([item.chargeId, item.paymentId, item.invoiceId], [pay.chargeId, pay.paymentIntentId, invoice]);
    const figures = await getInvoice(t, invoice);
    assert.deepEqual(figures.payouts?.map((p: { id: string }) => p.id), [payout.id]);
    assert.deepEqual((await getInvoice(t, await invoiceOfPayment(squatted.paymentIntentId))).payouts, [], 'nor does the other merchant see B\'s payout');
  });

  it('ignores (payment_mismatch) an event that would move a refund to another payment of the same account', async () => {
    const invoice = await a.invoice(1000);
    const pay = paymentEvents({ invoiceId: invoice, amount: 1000 });
    const refundId = uniqueId('re');
    await applyAll(a, [
      pay.paymentIntent('payment_intent.succeeded'),
      pay.charge('charge.succeeded'),
      pay.refund('refund.created', { id: refundId, amount: 200, status: 'pending' }),
    ]);
    const before = await invoiceState(invoice);
    const other = paymentEvents({ invoiceId: null, amount: 200 });
    assert.deepEqual(await outcome(a, other.refund('refund.updated', { id: refundId, amount: 200, status: 'canceled', created: LATER })), ['ignored', 'payment_mismatch']);
    assert.deepEqual(await invoiceState(invoice), before);
    const [refund] = await t.query<{ payment_id: string; status: string }>('SELECT payment_id, status FROM refunds WHERE id = ?', [refundId]);
    assert.deepEqual(refund, { payment_id: pay.paymentIntentId, status: 'pending' });
  });
});

describe('tenant isolation within one transaction (a batch of events)', () => {
  let t: TestService;
  let fake: FakeStripe;
  let dataSource: DataSource;
  let a: Merchant;
  let b: Merchant;

  before(async () => {
    fake = await startFakeStripe();
    // The API only: this test runs the events itself, as one batch.
    t = await startTestService({ STRIPE_API_BASE: fake.url, ROLE: 'api' });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    a = await connectMerchant(t, fake, 'Mallory Ltd');
    b = await connectMerchant(t, fake, 'Bob Plumbing');
  });
  after(async () => {
    await dataSource?.destroy();
    await t?.stop();
    await fake?.stop();
  });

  it('lets the first payment to record a new charge id keep it: a second account\'s event naming it in the same batch is ignored (account_mismatch)', async () => {
    const invoice = await b.invoice(1000);
    const pay = paymentEvents({ invoiceId: invoice, amount: 1000 });
    const mallory = paymentEvents({ invoiceId: null, amount: 9000, chargeId: pay.chargeId });
    const warmUp = pay.paymentIntent('payment_intent.succeeded');
    const real = pay.charge('charge.succeeded');
    const forged = mallory.charge('charge.succeeded');
    await b.deliver(warmUp);
    await b.deliver(real);
    await a.deliver(forged);

    // One lane: the first event runs alone, the two submitted meanwhile share the next transaction.
    const processEvent = createEventProcessor({ dataSource, registry: eventHandlers, logger: createMemoryLogger().logger, batch: { maxBatch: 16, lanes: 1 } });
    const results = await Promise.all([warmUp.id, real.id, forged.id].map((id) => processEvent(id, { number: 1, max: 3 })));
    assert.deepEqual(
      results.map((r) => [r.status, r.reason ?? null]),
      [
        ['processed', null],
        ['processed', null],
        ['ignored', 'account_mismatch'],
      ],
    );
    const [charge] = await t.query<{ payment_id: string; amount_captured: number }>('SELECT payment_id, amount_captured FROM charges WHERE id = ?', [pay.chargeId]);
    assert.deepEqual([charge?.payment_id, Number(charge?.amount_captured)], [pay.paymentIntentId, 1000]);
    const invoiceView = await getInvoice(t, invoice);
    assert.equal(invoiceView.amountPaid, 1000);
  });
});
