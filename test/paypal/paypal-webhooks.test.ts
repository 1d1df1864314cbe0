import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakePaypal, type FakePaypal } from '../helpers/fake-paypal.js';
import { auth } from '../helpers/billing-client.js';
import { connectPaypal, type PaypalMerchant } from '../helpers/paypal-merchant.js';
import { captureResource, paypalEvent, paypalId } from '../helpers/paypal-events.js';
import { waitFor } from '../helpers/wait-for.js';

const PUBLIC_BASE_URL = 'https://billing.example.test';

/** POST /webhooks/paypal/:accountId: verified, stored in the one inbox, queued, processed; refused deliveries never stored. */
describe('PayPal webhooks (POST /webhooks/paypal/:accountId)', function () {
  this.timeout(60_000);
  let fake: FakePaypal;
  let t: TestService;
  let merchant: PaypalMerchant;
  let other: PaypalMerchant;

  const newAccount = async (name: string) => {
    const res = await t.http.post('/api/accounts').set(auth).send({ name });
    assert.equal(res.status, 201);
    return res.body.id as string;
  };
  const invoiceOf = async (accountId: string, amountDue = 1000) => {
    const res = await t.http
      .post('/api/invoices')
      .set(auth)
      .send({ number: `PP-${paypalId(8)}`, currency: 'usd', amountDue, customer: { name: 'Pat Payer', email: 'pat@example.com' }, accountId });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id as string;
  };
  const stored = (eventId: string) => t.query<{ gateway: string; account_id: string; status: string }>('SELECT gateway, account_id, status FROM stripe_events WHERE id = ?', [eventId]);
  const completed = (invoiceId: string | undefined, value = '10.00') =>
    paypalEvent('PAYMENT.CAPTURE.COMPLETED', captureResource({ value, customId: invoiceId, fee: '0.59', net: '9.41' })) as Record<string, unknown> & { id: string };

  before(async () => {
    fake = await startFakePaypal();
    t = await startTestService({ PAYPAL_API_BASE: fake.url, PUBLIC_BASE_URL });
    merchant = await connectPaypal(t, fake, await newAccount('Acme Plumbing'));
    other = await connectPaypal(t, fake, await newAccount('Other Books'));
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  it('stores a signed delivery in the inbox as a PayPal event, answers 200, and the worker applies it to the invoice', async () => {
    const invoiceId = await invoiceOf(merchant.accountId);
    const event = completed(invoiceId);
    const res = await merchant.post(event);
    assert.deepEqual([res.status, res.body], [200, { received: true, duplicate: false }]);
    const settled = await merchant.settled(String(event.id));
    assert.equal(settled.status, 'processed', JSON.stringify(settled));
    assert.deepEqual(await stored(String(event.id)), [{ gateway: 'paypal', account_id: merchant.accountId, status: 'processed' }]);
    const invoice = await t.http.get(`/api/invoices/${invoiceId}`).set(auth);
    assert.equal(invoice.body.status, 'paid');
    assert.equal(invoice.body.amountPaid, 1000);
    assert.equal(invoice.body.payments[0].gateway, 'paypal');
  });

  it('answers a redelivery 200 duplicate: one inbox row, the payment counted once', async () => {
    const invoiceId = await invoiceOf(merchant.accountId, 2000);
    const event = completed(invoiceId);
    assert.equal((await merchant.deliver(event)).status, 'processed');
    // PayPal retries with a new transmission (new id and time, signed again): the same event.
    const again = await merchant.post(event);
    assert.deepEqual([again.status, again.body], [200, { received: true, duplicate: true }]);
    assert.equal((await stored(String(event.id))).length, 1);
    const invoice = await t.http.get(`/api/invoices/${invoiceId}`).set(auth);
    assert.deepEqual([invoice.body.status, invoice.body.amountPaid, invoice.body.payments.length], ['partially_paid', 1000, 1]);
  });

  it('refuses every bad signature with 400 signature_invalid and stores nothing', async () => {
    const forger = fake.issueCertificate({ selfSigned: true });
    const cases: [string, (event: Record<string, unknown>) => ReturnType<PaypalMerchant['post']>, RegExp][] = [
      ['the body changed on the way', (event) => merchant.post(event, { body: JSON.stringify({ ...event, summary: 'changed' }) }), /CRC32/],
      ["signed for another account's webhook", (event) => merchant.post(event, { webhookId: other.webhookId }), /another webhook/],
      ["another account's delivery posted to this account", (event) => other.post(event, { accountId: merchant.accountId }), /another webhook/],
      ["a forger's key under PayPal's certificate", (event) => merchant.post(event, { key: forger.key }), /not made with the key/],
      ['transmitted an hour ago (replayed)', (event) => merchant.post(event, { at: new Date(Date.now() - 3600_000) }), /more than 300 s ago/],
      ['a certificate from elsewhere', (event) => merchant.post(event, { certUrl: 'https://evil.example/v1/notifications/certs/CERT-1' }), /PAYPAL-CERT-URL|certificate/i],
    ];
    for (const [name, post, message] of cases) {
      const event = completed(undefined);
      const res = await post(event);
      assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error?.code, 'signature_invalid', name);
      assert.match(res.body.error!.message, message, name);
      assert.deepEqual(await stored(String(event.id)), [], `${name}: not stored`);
    }
    const unsigned = await t.http.post(`/webhooks/paypal/${merchant.accountId}`).set('content-type', 'application/json').send(JSON.stringify(completed(undefined)));
    assert.equal(unsigned.status, 400);
    assert.equal(unsigned.body.error.code, 'signature_invalid');
    assert.match(unsigned.body.error.message, /Missing PAYPAL-TRANSMISSION-ID/);
  });

  it('answers 404 account_not_found for an unknown account and 503 webhook_not_configured for one without PayPal, storing nothing', async () => {
    const event = completed(undefined);
    const unknown = await merchant.post(event, { accountId: 'ma_nosuchaccount0000000' });
    assert.deepEqual([unknown.status, unknown.body.error?.code], [404, 'account_not_found']);
    const bare = await newAccount('No PayPal Yet');
    const unconfigured = await merchant.post(event, { accountId: bare });
    assert.deepEqual([unconfigured.status, unconfigured.body.error?.code], [503, 'webhook_not_configured']);
    assert.deepEqual(await stored(String(event.id)), []);
  });

  it('refuses a signed body that is not a PayPal event (400 payload_invalid): a Stripe-style id cannot enter the inbox through PayPal', async () => {
    const event = { ...completed(undefined), id: 'evt_1NotPaypal' };
    const res = await merchant.post(event);
    assert.deepEqual([res.status, res.body.error?.code], [400, 'payload_invalid']);
    assert.match(res.body.error!.message, /not a PayPal event id \(WH-…\)/);
    assert.deepEqual(await stored('evt_1NotPaypal'), []);
    const lower = await merchant.post({ ...completed(undefined), event_type: 'payment_intent.succeeded' });
    assert.deepEqual([lower.status, lower.body.error?.code], [400, 'payload_invalid']);
  });

  it('fails at once (invalid_object, no retries) a signed event whose resource cannot be read, naming the field', async () => {
    const event = paypalEvent('PAYMENT.CAPTURE.COMPLETED', { ...captureResource({ value: '10.00' }), amount: { currency_code: 'USD', value: '10.001' } }) as { id: string };
    const settled = await merchant.deliver(event);
    assert.deepEqual([settled.status, settled.reason, Number(settled.attempts)], ['failed', 'invalid_object', 1]);
    assert.match(String(settled.last_error), /amount/);
  });

  it('shows a PayPal event in the ops API with its gateway, and replays it without counting the money twice', async () => {
    const invoiceId = await invoiceOf(merchant.accountId);
    const event = completed(invoiceId);
    await merchant.deliver(event);
    const detail = await t.http.get(`/api/ops/events/${String(event.id)}`).set(auth);
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.body.gateway, 'paypal');
    assert.equal(detail.body.type, 'PAYMENT.CAPTURE.COMPLETED');
    assert.equal(detail.body.accountId, merchant.accountId);
    assert.equal(detail.body.status, 'processed');
    assert.equal(detail.body.payload.id, event.id);
    // Found by the capture's id as Stripe's events are by their object's, listed with its gateway.
    const found = await t.http.get('/api/ops/events').query({ q: (event.resource as { id: string }).id }).set(auth);
    assert.equal(found.status, 200, found.text);
    assert.deepEqual(found.body.data.map((e: { id: string; gateway: string }) => [e.id, e.gateway]), [[event.id, 'paypal']]);

    const replay = await t.http.post(`/api/ops/events/${String(event.id)}/replay`).set(auth);
    assert.equal(replay.status, 202, replay.text);
    const again = await waitFor('the replayed event to settle again', async () => {
      const [row] = await t.query<{ status: string; reason: string | null; attempts: number }>('SELECT status, reason, attempts FROM stripe_events WHERE id = ?', [event.id]);
      return row && row.status !== 'received' && Number(row.attempts) === 2 ? row : undefined;
    });
    // Run again by the worker: its facts are already there, so it is stale, as a replayed Stripe event.
    assert.deepEqual([again.status, again.reason], ['ignored', 'stale']);
    const invoice = await t.http.get(`/api/invoices/${invoiceId}`).set(auth);
    assert.deepEqual([invoice.body.status, invoice.body.amountPaid], ['paid', 1000]);
  });
});
