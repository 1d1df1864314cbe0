import assert from 'node:assert/strict';
import { OrdersController } from '@paypal/paypal-server-sdk';
import type { TestService } from '../helpers/test-service.js';
import { startTwoGateways, type TwoGateways } from '../helpers/two-gateways.js';
import { paypalError, type FakePaypal } from '../helpers/fake-paypal.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { auth } from '../helpers/billing-client.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { connectPaypal, type PaypalMerchant } from '../helpers/paypal-merchant.js';
import { paypalEvent } from '../helpers/paypal-events.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { createPaypalSdkClient } from '../../src/paypal/paypal-client.js';


/**
 * Pay with PayPal through a pay link (issue 17): the page's offer, the order made or reused under
 * the invoice's pay lock, the capture on approval, and the invoice paid by PayPal's event alone.
 * Against the fake PayPal (orders, PayPal-Request-Id, approval) and the fake Stripe.
 */
describe('Pay with PayPal through a pay link', function () {
  this.timeout(120_000);
  let paypal: FakePaypal;
  let stripe: Awaited<ReturnType<typeof startFakeStripe>>;
  let t: TestService;
  /** Stripe and PayPal on one merchant account. */
  let card: Merchant;
  let pp: PaypalMerchant;

  let gateways: TwoGateways | undefined;

  before(async () => {
    gateways = await startTwoGateways('Both gateways');
    ({ paypal, stripe, t, card, pp } = gateways);
  });
  after(async () => {
    if (paypal) paypal.unreachable = false;
    await gateways?.stop();
  });

  const linkFor = async (invoiceId: string) => {
    const res = await t.http.post(`/api/invoices/${invoiceId}/pay-link`).set(auth).send({});
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string; token: string };
  };
  const order = (token: string) => t.http.post(`/pay/${token}/paypal`);
  const capture = (token: string, orderId: unknown) => t.http.post(`/pay/${token}/paypal/capture`).send({ orderId });
  const payByCard = (token: string) => t.http.post(`/pay/${token}`);
  const creates = () => paypal.requests.filter((r) => r.method === 'POST' && r.path === '/v2/checkout/orders').length;
  const capturesAt = (orderId: string) => paypal.requests.filter((r) => r.method === 'POST' && r.path === `/v2/checkout/orders/${orderId}/capture`);
  const paypalCaptures = () => [...paypal.orders.captures.values()].length;
  /** The captures PayPal holds of one order. */
  const capturesOf = (orderId: string) =>
    [...paypal.orders.captures.values()].filter((c) => (c.value.supplementary_data as { related_ids: { order_id: string } }).related_ids.order_id === orderId).length;
  const invoice = async (id: string) => (await t.http.get(`/api/invoices/${id}`).set(auth)).body;
  /** The capture's PAYMENT.CAPTURE.COMPLETED, as PayPal would post it, delivered and settled. */
  const completed = async (captureId: string) => {
    const event = paypalEvent('PAYMENT.CAPTURE.COMPLETED', paypal.orders.captures.get(captureId)!.value) as { id: string };
    assert.equal((await pp.deliver(event)).status, 'processed');
  };
  const payPartlyByCard = async (invoiceId: string, amount: number) => {
    const pay = paymentEvents({ invoiceId, amount });
    for (const event of [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]) {
      await card.deliver(event);
      assert.equal((await card.settled(event.id)).status, 'processed');
    }
  };
  const error = (res: { status: number; body: { error?: { code: string } } }) => [res.status, res.body.error?.code];

  describe('GET /pay/:token', () => {
    it('shows the invoice and offers the card and PayPal (with its public client id) when the account has both; nothing cached', async () => {
      const invoiceId = await card.invoice(2500);
      const res = await t.http.get(`/pay/${(await linkFor(invoiceId)).token}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.deepEqual(res.body, {
        invoiceNumber: (await invoice(invoiceId)).number,
        status: 'open',
        amountDue: 2500,
        currency: 'usd',
        gateways: { stripe: true, paypal: { clientId: pp.app.clientId, mode: 'sandbox' } },
      });
      assert.ok(!JSON.stringify(res.body).includes(pp.app.clientSecret));
    });

    it('offers only the gateway the account has: the card alone, or PayPal alone', async () => {
      const cardOnly = await connectMerchant(t, stripe, 'Card only');
      const res = await t.http.get(`/pay/${(await linkFor(await cardOnly.invoice(700))).token}`);
      assert.deepEqual(res.body.gateways, { stripe: true, paypal: null });

      const account = (await t.http.post('/api/accounts').set(auth).send({ name: 'PayPal only' })).body.id as string;
      const only = await connectPaypal(t, paypal, account);
      const created = await t.http.post('/api/invoices').set(auth).send({ number: `PP-ONLY-${Date.now()}`, currency: 'eur', amountDue: 990, customer: { name: 'P', email: 'p@example.com' }, accountId: account });
      const seen = await t.http.get(`/pay/${(await linkFor(created.body.id)).token}`);
      assert.deepEqual(seen.body.gateways, { stripe: false, paypal: { clientId: only.app.clientId, mode: 'sandbox' } });
      // And without PayPal, the PayPal routes say so.
      const noPaypal = await order((await linkFor(await cardOnly.invoice(700))).token);
      assert.deepEqual(error(noPaypal), [409, 'paypal_not_connected']);
    });

    it('answers 404 pay_link_invalid for an unknown, expired or revoked link, on every route', async () => {
      const invoiceId = await card.invoice(300);
      const link = await linkFor(invoiceId);
      assert.equal((await t.http.delete(`/api/invoices/${invoiceId}/pay-link/${link.id}`).set(auth)).status, 204);
      for (const token of [link.token, `bpl_${'A'.repeat(43)}`, 'nope']) {
        assert.deepEqual(error(await t.http.get(`/pay/${token}`)), [404, 'pay_link_invalid'], token);
        assert.deepEqual(error(await order(token)), [404, 'pay_link_invalid'], token);
        assert.deepEqual(error(await capture(token, 'ABC123')), [404, 'pay_link_invalid'], token);
      }
      const expiring = (await t.http.post(`/api/invoices/${invoiceId}/pay-link`).set(auth).send({ expiresInHours: 1 })).body.token as string;
      await t.query('UPDATE pay_links SET expires_at = ? WHERE token_hash = UNHEX(SHA2(?, 256))', [new Date(Date.now() - 1000), expiring]);
      assert.deepEqual(error(await order(expiring)), [404, 'pay_link_invalid']);
    });
  });

  it('makes an order for the amount due, reuses it on a second click, captures it on approval; PayPal\'s event pays the invoice', async () => {
    const invoiceId = await card.invoice(4250);
    const { number } = await invoice(invoiceId);
    const { token } = await linkFor(invoiceId);
    const before = creates();
    const first = await order(token);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.headers['cache-control'], 'no-store');
    assert.deepEqual({ ...first.body, approveUrl: undefined }, { orderId: first.body.orderId, status: 'created', approveUrl: undefined, amount: 4250, currency: 'usd' });
    assert.match(first.body.approveUrl, /^https:\/\/www\.sandbox\.paypal\.com\/checkoutnow\?token=/);
    const [second, third] = await Promise.all([order(token), order(token)]);
    assert.deepEqual([second.body.orderId, third.body.orderId], [first.body.orderId, first.body.orderId]);
    assert.equal(creates() - before, 1, 'PayPal was asked to create one order');

    // What PayPal got: intent CAPTURE, the amount in PayPal's terms, the invoice in custom_id, a unique invoice_id, a request id.
    const made = paypal.requests.filter((r) => r.method === 'POST' && r.path === '/v2/checkout/orders').at(-1)!;
    const unit = (made.body as { intent: string; purchase_units: Record<string, unknown>[] }).purchase_units[0]!;
    assert.equal((made.body as { intent: string }).intent, 'CAPTURE');
    assert.deepEqual(unit.amount, { currency_code: 'USD', value: '42.50' });
    assert.equal(unit.custom_id, invoiceId);
    assert.match(String(unit.invoice_id), new RegExp(`^${number}-[0-9a-f]{8}$`));
    assert.ok(made.requestId, 'a PayPal-Request-Id');

    assert.deepEqual(error(await capture(token, first.body.orderId)), [409, 'paypal_order_not_approved'], 'not approved yet: nothing taken');
    assert.equal(paypalCaptures(), 0);
    paypal.orders.approve(first.body.orderId);
    // onApprove twice at once (a double click): one capture, one answer.
    const [captured, twin] = await Promise.all([capture(token, first.body.orderId), capture(token, first.body.orderId)]);
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    assert.deepEqual(twin.body, captured.body);
    assert.deepEqual({ ...captured.body, captureId: undefined }, { status: 'completed', captureId: undefined, amount: 4250, currency: 'usd' });
    // Claimed for the invoice's account, as PayPal's; the invoice waits for PayPal's event.
    const [payment] = await t.query<{ gateway: string; account_id: string; amount_received: number }>('SELECT gateway, account_id, amount_received FROM payments WHERE id = ?', [captured.body.captureId]);
    assert.deepEqual({ ...payment }, { gateway: 'paypal', account_id: card.accountId, amount_received: 0 });
    assert.equal((await invoice(invoiceId)).status, 'open');

    // Until the capture is recorded, neither the card nor another PayPal order may pay the invoice.
    assert.deepEqual(error(await payByCard(token)), [409, 'payment_processing']);
    assert.deepEqual(error(await order(token)), [409, 'payment_processing']);

    await completed(captured.body.captureId);
    const paid = await invoice(invoiceId);
    assert.deepEqual([paid.status, paid.amountPaid], ['paid', 4250]);
    assert.deepEqual(paid.payments.map((p: Record<string, unknown>) => [p.id, p.gateway]), [[captured.body.captureId, 'paypal']]);
    assert.deepEqual(error(await order(token)), [409, 'invoice_paid']);
    assert.deepEqual(error(await payByCard(token)), [409, 'invoice_paid']);
    // A retried capture answers the same capture, and PayPal captured once.
    const again = await capture(token, first.body.orderId);
    assert.deepEqual(again.body, captured.body);
    assert.equal(capturesOf(first.body.orderId), 1);
    assert.ok(capturesAt(first.body.orderId).every((r) => r.requestId === `capture-${first.body.orderId}`), 'one PayPal-Request-Id per order');
  });

  it('a capture PayPal made but whose answer was lost is read back, not made twice: the same PayPal-Request-Id, or ORDER_ALREADY_CAPTURED', async () => {
    const orders = new OrdersController(createPaypalSdkClient(pp.app, 'sandbox', { apiBase: paypal.url }));
    for (const sameRequestId of [true, false]) {
      const { token } = await linkFor(await card.invoice(1500));
      const { orderId } = (await order(token)).body;
      paypal.orders.approve(orderId);
      // PayPal captures; the answer never reaches the service.
      const direct = await orders.captureOrder({ id: orderId, paypalRequestId: sameRequestId ? `capture-${orderId}` : 'captured-in-paypal' });
      const made = paypalCaptures();
      const res = await capture(token, orderId);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.captureId, direct.result.purchaseUnits![0]!.payments!.captures![0]!.id);
      assert.equal(paypalCaptures(), made, 'no second capture');
    }
  });

  it('when a card payment changes the amount due, the old order is never captured and a new one is made for the remainder', async () => {
    const invoiceId = await card.invoice(1000);
    const { token } = await linkFor(invoiceId);
    const old = (await order(token)).body;
    paypal.orders.approve(old.orderId);
    await payPartlyByCard(invoiceId, 400);
    assert.deepEqual(error(await capture(token, old.orderId)), [409, 'paypal_amount_changed']);
    assert.equal(capturesAt(old.orderId).length, 0, 'PayPal was not asked to capture it');
    const next = await order(token);
    assert.notEqual(next.body.orderId, old.orderId);
    assert.deepEqual([next.body.amount, next.body.currency], [600, 'usd']);
    assert.deepEqual(error(await capture(token, old.orderId)), [404, 'paypal_order_not_found'], 'superseded');
    // An order superseded by a new one for the same link, too: a second order for the new amount reuses the new one.
    assert.equal((await order(token)).body.orderId, next.body.orderId);
    const [row] = await t.query<{ status: string }>('SELECT status FROM invoice_paypal_orders WHERE id = ?', [old.orderId]);
    assert.equal(row!.status, 'superseded');
  });

  it('refuses a PayPal order while a card payment is processing, and cancels a payable card PaymentIntent before capturing', async () => {
    const invoiceId = await card.invoice(800);
    const { token } = await linkFor(invoiceId);
    assert.equal((await payByCard(token)).status, 200);
    const [intent] = await t.query<{ id: string }>('SELECT id FROM invoice_payment_intents WHERE invoice_id = ?', [invoiceId]);
    stripe.paymentIntents.get(intent!.id)!.status = 'processing';
    const before = creates();
    assert.deepEqual(error(await order(token)), [409, 'payment_processing']);
    assert.equal(creates(), before);

    stripe.paymentIntents.get(intent!.id)!.status = 'requires_payment_method';
    const { orderId } = (await order(token)).body;
    assert.equal(stripe.paymentIntents.get(intent!.id)!.status, 'requires_payment_method', 'the card stays payable while the payer chooses');
    paypal.orders.approve(orderId);
    // The payer confirms the card meanwhile: the capture is refused and PayPal is not asked.
    stripe.paymentIntents.get(intent!.id)!.status = 'succeeded';
    assert.deepEqual(error(await capture(token, orderId)), [409, 'payment_processing']);
    assert.equal(capturesAt(orderId).length, 0);

    const other = await card.invoice(900);
    const link = (await linkFor(other)).token;
    assert.equal((await payByCard(link)).status, 200);
    const [pending] = await t.query<{ id: string }>('SELECT id FROM invoice_payment_intents WHERE invoice_id = ?', [other]);
    const created = (await order(link)).body.orderId as string;
    paypal.orders.approve(created);
    assert.equal((await capture(link, created)).status, 200);
    assert.equal(stripe.paymentIntents.get(pending!.id)!.status, 'canceled', 'the card can no longer pay what PayPal took');
  });

  it('a declined funding source: 402 paypal_payment_declined, nothing taken; the payer picks another and it is captured', async () => {
    const { token } = await linkFor(await card.invoice(2000));
    const { orderId } = (await order(token)).body;
    paypal.orders.approve(orderId);
    let declines = 1;
    paypal.route('POST', new RegExp(`^/v2/checkout/orders/${orderId}/capture$`), () =>
      declines-- > 0 ? paypalError(422, 'UNPROCESSABLE_ENTITY', 'The instrument presented was either declined by the processor or bank, or it can\'t be used for this payment.', [{ issue: 'INSTRUMENT_DECLINED' }]) : undefined,
    );
    assert.deepEqual(error(await capture(token, orderId)), [402, 'paypal_payment_declined']);
    assert.equal(capturesOf(orderId), 0);
    const res = await capture(token, orderId);
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  it('refuses an unknown order, another invoice\'s order and a malformed body', async () => {
    const { token } = await linkFor(await card.invoice(500));
    const mine = (await order(token)).body.orderId as string;
    const other = await linkFor(await card.invoice(600));
    const theirs = (await order(other.token)).body.orderId as string;
    paypal.orders.approve(theirs);
    assert.deepEqual(error(await capture(token, theirs)), [404, 'paypal_order_not_found']);
    assert.deepEqual(error(await capture(token, 'UNKNOWN0000000000')), [404, 'paypal_order_not_found']);
    assert.equal(capturesAt(theirs).length, 0);
    for (const bad of [undefined, '', 'lower-case', 42]) assert.deepEqual(error(await capture(token, bad)), [400, 'invalid_paypal_capture'], String(bad));
    assert.ok(mine);
  });

  it('an order PayPal forgot (never approved in time) is not found, and the next click makes a new one', async () => {
    const { token } = await linkFor(await card.invoice(350));
    const { orderId } = (await order(token)).body;
    paypal.orders.orders.delete(orderId);
    assert.deepEqual(error(await capture(token, orderId)), [404, 'paypal_order_not_found']);
    const next = (await order(token)).body;
    assert.notEqual(next.orderId, orderId);
    assert.equal(next.amount, 350);
  });

  it('an amount PayPal cannot take exactly (half a forint) is refused before PayPal is asked: 409 paypal_amount_unsupported', async () => {
    const before = creates();
    const res = await order((await linkFor(await card.invoice(150050, 'huf'))).token);
    assert.deepEqual(error(res), [409, 'paypal_amount_unsupported']);
    assert.equal(creates(), before);
  });

  it('takes yen in whole units: 1500 JPY is "1500" at PayPal, and 1500 in the books', async () => {
    const invoiceId = await card.invoice(1500, 'jpy');
    const { token } = await linkFor(invoiceId);
    const { orderId, amount, currency } = (await order(token)).body;
    assert.deepEqual([amount, currency], [1500, 'jpy']);
    const made = paypal.requests.filter((r) => r.method === 'POST' && r.path === '/v2/checkout/orders').at(-1)!;
    assert.deepEqual((made.body as { purchase_units: { amount: unknown }[] }).purchase_units[0]!.amount, { currency_code: 'JPY', value: '1500' });
    paypal.orders.approve(orderId);
    const captured = (await capture(token, orderId)).body;
    assert.deepEqual([captured.amount, captured.currency], [1500, 'jpy']);
    await completed(captured.captureId);
    assert.deepEqual([(await invoice(invoiceId)).status, (await invoice(invoiceId)).amountPaid], ['paid', 1500]);
  });

  it('a capture in doubt is cleared only by PayPal\'s record of the order: a 429 on the retry does not let the card pay what PayPal took', async () => {
    const invoiceId = await card.invoice(1000);
    const { token } = await linkFor(invoiceId);
    const { orderId } = (await order(token)).body;
    paypal.orders.approve(orderId);
    paypal.unreachable = true;
    try {
      assert.deepEqual(error(await capture(token, orderId)), [502, 'paypal_unreachable']);
    } finally {
      paypal.unreachable = false;
    }
    // The capture reached PayPal after all (its answer was lost): PayPal holds it under the order's request id.
    const orders = new OrdersController(createPaypalSdkClient(pp.app, 'sandbox', { apiBase: paypal.url }));
    await orders.captureOrder({ id: orderId, paypalRequestId: `capture-${orderId}` });
    // The retry is refused for another reason (PayPal busy): that says nothing of the first try.
    let limited = 1;
    paypal.route('POST', new RegExp(`^/v2/checkout/orders/${orderId}/capture$`), () =>
      limited-- > 0 ? paypalError(429, 'RATE_LIMIT_REACHED', 'Too many requests', [{ issue: 'RATE_LIMIT_REACHED' }]) : undefined,
    );
    const retry = await capture(token, orderId);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    const [captureId] = [...paypal.orders.captures.keys()].filter((id) => (paypal.orders.captures.get(id)!.value.supplementary_data as { related_ids: { order_id: string } }).related_ids.order_id === orderId);
    assert.equal(retry.body.captureId, captureId, 'PayPal\'s record answered: the capture it made');
    assert.deepEqual(error(await payByCard(token)), [409, 'payment_processing'], 'the card waits for the capture\'s event');
    assert.equal(capturesOf(orderId), 1);

    // A retry refused by a 429 while PayPal cannot be asked either keeps the order in doubt.
    const other = await card.invoice(700);
    const second = await linkFor(other);
    const next = (await order(second.token)).body.orderId as string;
    paypal.orders.approve(next);
    paypal.route('POST', new RegExp(`^/v2/checkout/orders/${next}/capture$`), () => paypalError(429, 'RATE_LIMIT_REACHED', 'Too many requests', [{ issue: 'RATE_LIMIT_REACHED' }]));
    paypal.route('GET', new RegExp(`^/v2/checkout/orders/${next}$`), () => paypalError(429, 'RATE_LIMIT_REACHED', 'Too many requests'));
    assert.deepEqual(error(await capture(second.token, next)), [502, 'paypal_unreachable']);
    const [row] = await t.query<{ status: string }>('SELECT status FROM invoice_paypal_orders WHERE id = ?', [next]);
    assert.equal(row!.status, 'capturing', 'still in doubt: nothing said whether PayPal took it');
  });

  it('PayPal down: 502 paypal_unreachable, nothing recorded; a capture in doubt holds the card back until PayPal answers', async () => {
    const invoiceId = await card.invoice(1200);
    const { token } = await linkFor(invoiceId);
    paypal.unreachable = true;
    try {
      assert.deepEqual(error(await order(token)), [502, 'paypal_unreachable']);
    } finally {
      paypal.unreachable = false;
    }
    assert.deepEqual(await t.query('SELECT id FROM invoice_paypal_orders WHERE invoice_id = ?', [invoiceId]), []);

    const { orderId } = (await order(token)).body;
    paypal.orders.approve(orderId);
    paypal.unreachable = true;
    try {
      assert.deepEqual(error(await capture(token, orderId)), [502, 'paypal_unreachable']);
      const [row] = await t.query<{ status: string; capture_id: string | null }>('SELECT status, capture_id FROM invoice_paypal_orders WHERE id = ?', [orderId]);
      assert.deepEqual({ ...row }, { status: 'capturing', capture_id: null }, 'no capture recorded; the order marked in doubt');
      assert.deepEqual(error(await payByCard(token)), [409, 'payment_processing'], 'PayPal may have captured: the card waits');
    } finally {
      paypal.unreachable = false;
    }
    assert.equal((await invoice(invoiceId)).amountPaid, 0);
    // PayPal back: asked, it says the order was not captured, and the card may pay again.
    assert.equal((await payByCard(token)).status, 200);
    const [row] = await t.query<{ status: string }>('SELECT status FROM invoice_paypal_orders WHERE id = ?', [orderId]);
    assert.equal(row!.status, 'approved');
    const res = await capture(token, orderId);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(capturesOf(orderId), 1);
  });
});
