import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, getInvoice } from '../helpers/billing-client.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';

describe('Pay Now: one live PaymentIntent per invoice and amount', function () {
  this.timeout(60_000);
  let t: TestService;
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  let merchant: Merchant;
  let clock = Date.now();

  before(async () => {
    fake = await startFakeStripe();
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('pay_now'), STRIPE_API_BASE: fake.url, PUBLIC_BASE_URL: 'https://pay.example.test' }, { now: () => new Date(clock) });
    merchant = await connectMerchant(t, fake, 'Pay Now merchant');
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  const payNow = (invoiceId: string) => t.http.post(`/api/invoices/${invoiceId}/payment-intent`).set(auth);
  const creates = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents').length;
  const payPartly = async (invoiceId: string, amount: number) => {
    const pay = paymentEvents({ invoiceId, amount });
    for (const event of [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]) {
      await merchant.deliver(event);
      assert.equal((await merchant.settled(event.id)).status, 'processed');
    }
  };

  it('two clicks, one after the other or at once, get the same PaymentIntent, asked of Stripe (not of an idempotency key)', async () => {
    const invoiceId = await merchant.invoice(2500);
    const before = creates();
    const first = await payNow(invoiceId);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const [second, third] = await Promise.all([payNow(invoiceId), payNow(invoiceId)]);
    assert.deepEqual([second.body.paymentIntentId, third.body.paymentIntentId], [first.body.paymentIntentId, first.body.paymentIntentId]);
    assert.equal(second.body.clientSecret, first.body.clientSecret);
    assert.equal(creates() - before, 1, 'Stripe was asked to create one PaymentIntent');
    assert.ok(fake.requests.some((r) => r.method === 'GET' && r.path === `/v1/payment_intents/${first.body.paymentIntentId}`), 'the reuse was checked with Stripe');
    const [stored] = await t.query<{ invoice_id: string; amount: number }>('SELECT invoice_id, amount FROM invoice_payment_intents WHERE id = ?', [first.body.paymentIntentId]);
    assert.deepEqual({ ...stored }, { invoice_id: invoiceId, amount: 2500 });
  });

  it('still reuses it while the payer is in the middle of paying (requires_action, requires_confirmation)', async () => {
    const invoiceId = await merchant.invoice(1200);
    const first = (await payNow(invoiceId)).body;
    for (const status of ['requires_action', 'requires_confirmation']) {
      fake.paymentIntents.get(first.paymentIntentId)!.status = status;
      assert.equal((await payNow(invoiceId)).body.paymentIntentId, first.paymentIntentId, status);
    }
  });

  it('answers 409 payment_processing while a PaymentIntent of the invoice is processing, and makes no other', async () => {
    const invoiceId = await merchant.invoice(3000);
    const first = (await payNow(invoiceId)).body;
    fake.paymentIntents.get(first.paymentIntentId)!.status = 'processing';
    const before = creates();
    const res = await payNow(invoiceId);
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'payment_processing');
    assert.equal(creates(), before);
  });

  it('answers 409 payment_processing when one succeeded but its events are not applied yet, and invoice_paid once they are', async () => {
    const invoiceId = await merchant.invoice(1800);
    const first = (await payNow(invoiceId)).body;
    fake.paymentIntents.get(first.paymentIntentId)!.status = 'succeeded';
    assert.equal((await payNow(invoiceId)).body.error.code, 'payment_processing');
    const pay = paymentEvents({ invoiceId, amount: 1800, paymentIntentId: first.paymentIntentId });
    for (const event of [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]) {
      await merchant.deliver(event);
      await merchant.settled(event.id);
    }
    assert.equal((await getInvoice(t, invoiceId)).status, 'paid');
    assert.equal((await payNow(invoiceId)).body.error.code, 'invoice_paid');
  });

  it('when the amount due changes (a partial payment recorded), cancels the old PaymentIntent and makes one for the new amount', async () => {
    const invoiceId = await merchant.invoice(1000);
    const old = (await payNow(invoiceId)).body;
    assert.equal(old.amount, 1000);
    await payPartly(invoiceId, 400);
    const res = await payNow(invoiceId);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.notEqual(res.body.paymentIntentId, old.paymentIntentId);
    assert.equal(res.body.amount, 600);
    assert.equal(fake.paymentIntents.get(old.paymentIntentId)!.status, 'canceled');
    assert.ok(fake.requests.some((r) => r.path === `/v1/payment_intents/${old.paymentIntentId}/cancel`));
    const rows = await t.query<{ id: string; status: string }>('SELECT id, status FROM invoice_payment_intents WHERE invoice_id = ? ORDER BY created_at, id', [invoiceId]);
    assert.deepEqual(rows.find((r) => r.id === old.paymentIntentId)?.status, 'canceled');
    // And the new one is the one reused from now on.
    assert.equal((await payNow(invoiceId)).body.paymentIntentId, res.body.paymentIntentId);
  });

  describe('pay links', () => {
    let accountant: string;
    before(async () => {
      accountant = (await createToken(t, 'accountant', 'pay-link accountant')).token;
    });
    const createLink = (invoiceId: string, body: object = {}) => t.http.post(`/api/invoices/${invoiceId}/pay-link`).set(bearer(accountant)).send(body);
    const pay = (token: string) => t.http.post(`/pay/${token}`);

    it('an accountant creates one; the payer pays through it with no staff token, getting only what Stripe.js needs, the same PaymentIntent as Pay Now', async () => {
      const invoiceId = await merchant.invoice(4400);
      const link = await createLink(invoiceId);
      assert.equal(link.status, 201, JSON.stringify(link.body));
      assert.match(link.body.token, /^bpl_[A-Za-z0-9_-]{43}$/);
      assert.equal(link.body.url, `https://pay.example.test/pay/${link.body.token}`);
      assert.equal(Date.parse(link.body.expiresAt), clock + 7 * 24 * 3600_000, 'expires in 7 days by default');
      const stored = await t.query<Record<string, unknown>>('SELECT * FROM pay_links WHERE id = ?', [link.body.id]);
      assert.ok(!JSON.stringify(stored).includes(link.body.token.slice(4)), 'only its hash is stored');

      const paid = await pay(link.body.token);
      assert.equal(paid.status, 200, JSON.stringify(paid.body));
      assert.deepEqual(Object.keys(paid.body).sort(), ['amount', 'clientSecret', 'currency']);
      assert.deepEqual([paid.body.amount, paid.body.currency], [4400, 'usd']);
      assert.equal(paid.headers['cache-control'], 'no-store');
      const again = await pay(link.body.token);
      assert.equal(again.body.clientSecret, paid.body.clientSecret, 'a second click reuses it');
      assert.equal((await payNow(invoiceId)).body.clientSecret, paid.body.clientSecret);
      assert.ok(!t.logs.some((line) => line.includes(link.body.token)), 'the token reaches no log line');
    });

    it('redacts a pay-link token that reaches a log line anyway (it travels in a URL path)', async () => {
      const link = (await createLink(await merchant.invoice(300))).body;
      const { logger, lines } = createMemoryLogger();
      logger.warn('request failed', { path: `/pay/${link.token}` });
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(!lines[0]!.includes(link.token));
      assert.match(lines[0]!, /\/pay\/bpl_\[redacted\]/);
    });

    it('expires: expiresInHours, then 404 pay_link_invalid', async () => {
      const invoiceId = await merchant.invoice(900);
      const link = (await createLink(invoiceId, { expiresInHours: 2 })).body;
      assert.equal(Date.parse(link.expiresAt), clock + 2 * 3600_000);
      assert.equal((await pay(link.token)).status, 200);
      clock += 2 * 3600_000 + 1;
      const expired = await pay(link.token);
      assert.equal(expired.status, 404);
      assert.equal(expired.body.error.code, 'pay_link_invalid');
      assert.equal((await createLink(invoiceId, { expiresInHours: 0 })).body.error.code, 'invalid_pay_link');
    });

    it('is revocable: DELETE /api/invoices/:id/pay-link/:linkId, then 404 pay_link_invalid; unknown tokens get the same answer', async () => {
      const invoiceId = await merchant.invoice(700);
      const link = (await createLink(invoiceId)).body;
      assert.equal((await t.http.delete(`/api/invoices/${invoiceId}/pay-link/${link.id}`).set(bearer(accountant))).status, 204);
      assert.equal((await t.http.delete(`/api/invoices/${invoiceId}/pay-link/${link.id}`).set(bearer(accountant))).status, 204, 'revoking twice is fine');
      assert.equal((await t.http.delete(`/api/invoices/inv_other/pay-link/${link.id}`).set(bearer(accountant))).body.error.code, 'pay_link_not_found');
      const revoked = await pay(link.token);
      assert.equal(revoked.status, 404);
      assert.equal(revoked.body.error.code, 'pay_link_invalid');
      for (const token of [`bpl_${'A'.repeat(43)}`, 'nope', link.token.slice(0, -1)]) {
        const res = await pay(token);
        assert.deepEqual([res.status, res.body.error.code], [404, 'pay_link_invalid'], token);
      }
    });

    it('refuses a pay link for an unknown invoice (404) and to an operator token (403)', async () => {
      assert.equal((await createLink('inv_000000000000000000000000')).status, 404);
      const operator = await createToken(t, 'operator');
      assert.equal((await t.http.post(`/api/invoices/${await merchant.invoice()}/pay-link`).set(bearer(operator.token)).send({})).status, 403);
    });
  });
});
