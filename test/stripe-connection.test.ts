import Stripe from 'stripe';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from './helpers/test-service.js';
import { startFakeStripe } from './helpers/fake-stripe.js';
import { signedDelivery, stripeEvent } from './helpers/stripe-events.js';
import { settled } from './helpers/billing-client.js';
import { paymentEvents } from './helpers/payment-events.js';
import { payoutEvents } from './helpers/payout-events.js';
import { trackDatabase, uniqueDatabaseUrl } from './helpers/test-database.js';
import { SUBSCRIBED_EVENT_TYPES } from '../src/events/subscribed-events.js';

const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const ENCRYPTION_KEY = 'ab'.repeat(32);

describe('Stripe connection (Settings > Payment Gateways > Stripe)', () => {
  let t: TestService;
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  let clock = Date.now();
  const TEST_KEY = 'sk_test_51Hmerchant0123456789abcdefABCDEF';
  const LIVE_KEY = 'sk_live_fakeLIVE099';
  const ROLLED_KEY = 'sk_test_51Hrolled0123456789abcdefROLLED';
  const RESTRICTED_KEY = 'rk_test_51Hrestricted0123456789abcdefRK';
  const NOT_ACTIVATED_KEY = 'sk_test_51Hinactive0123456789abcdefNOPE';
  const DEFAULT_KEY = 'sk_test_51Hdefault0123456789abcdefDEFAULT';

  before(async () => {
    fake = await startFakeStripe();
    fake.addAccount({ id: 'acct_merchant', keys: [TEST_KEY, LIVE_KEY, ROLLED_KEY, RESTRICTED_KEY] });
    fake.addAccount({ id: 'acct_inactive', keys: [NOT_ACTIVATED_KEY], charges_enabled: false });
    fake.addAccount({ id: 'acct_default', keys: [DEFAULT_KEY] });
    t = await startTestService(
      { STRIPE_API_BASE: fake.url, ENCRYPTION_KEY, PUBLIC_BASE_URL: 'https://billing.example.test', STRIPE_SECRET_KEY: DEFAULT_KEY },
      { now: () => new Date(clock) },
    );
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });
  // Most tests connect a new merchant account to the same Stripe account, which serves one merchant
  // account at a time (stripe_account_in_use): each test starts with it free.
  beforeEach(() => t.query("DELETE FROM stripe_connections WHERE stripe_account_id IN ('acct_merchant', 'acct_inactive')"));

  const newAccount = async () => {
    const res = await t.http.post('/api/accounts').set(auth).send({ name: 'Acme Plumbing' });
    assert.equal(res.status, 201);
    assert.match(res.body.id, /^ma_[0-9a-f]{20}$/);
    return res.body.id as string;
  };
  const connect = (accountId: string, body: object) => t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send(body);

  it('creates a merchant account, and rejects one without a name', async () => {
    await newAccount();
    const res = await t.http.post('/api/accounts').set(auth).send({ name: '' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'invalid_name');
  });

  const mistakes: [string, () => object, number, string, RegExp][] = [
    ['nothing pasted', () => ({}), 400, 'key_missing', /secret key/],
    ['only spaces and a newline', () => ({ secretKey: '  \n' }), 400, 'key_missing', /sk_live_ or sk_test_/],
    ['the publishable key', () => ({ secretKey: 'pk_test_51Habcdefghijklmnop' }), 400, 'publishable_key', /secret key instead/],
    ['the webhook signing secret', () => ({ secretKey: 'whsec_abcdefghijklmnop' }), 400, 'webhook_secret_as_key', /not an API key/],
    ['something else', () => ({ secretKey: 'acct_1234567890' }), 400, 'invalid_key_format', /sk_live_, sk_test_/],
    ['a cut-off key', () => ({ secretKey: 'sk_test_12' }), 400, 'invalid_key_format', /copied whole/],
    ['a key Stripe rejects (revoked or rolled)', () => ({ secretKey: 'sk_test_51Hrevoked0123456789abcdef' }), 400, 'invalid_api_key', /revoked, rolled or mistyped/],
    ['a signing secret that is not one', () => ({ secretKey: TEST_KEY, webhookSecret: 'sk_test_oops' }), 400, 'invalid_webhook_secret', /whsec_/],
  ];
  for (const [name, body, status, code, message] of mistakes) {
    it(`answers ${status} ${code} for ${name}, and saves nothing`, async () => {
      const accountId = await newAccount();
      const res = await connect(accountId, body());
      assert.equal(res.status, status);
      assert.equal(res.body.error.code, code);
      assert.match(res.body.error.message, message);
      const after = await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth);
      assert.equal(after.status, 404);
      assert.equal(after.body.error.code, 'stripe_not_connected');
    });
  }

  it('answers 502 stripe_unreachable when Stripe does not answer, and saves nothing', async () => {
    const accountId = await newAccount();
    fake.unreachable = true;
    try {
      const res = await connect(accountId, { secretKey: TEST_KEY });
      assert.equal(res.status, 502);
      assert.equal(res.body.error.code, 'stripe_unreachable');
    } finally {
      fake.unreachable = false;
    }
    assert.equal((await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth)).status, 404);
  });

  it('answers 404 account_not_found for an account that does not exist', async () => {
    const res = await connect('ma_nope', { secretKey: TEST_KEY });
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'account_not_found');
  });

  it('connects a pasted key (trimmed), creates the webhook endpoint, and shows mode and last 4 but never the key', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: `  ${TEST_KEY}\n` });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.mode, 'test');
    assert.equal(res.body.keyLast4, TEST_KEY.slice(-4));
    assert.equal(res.body.restricted, false);
    assert.match(res.body.webhookEndpointId, /^we_/);
    assert.ok(Date.parse(res.body.connectedAt));
    assert.deepEqual(res.body.warnings, []);
    assert.ok(!JSON.stringify(res.body).includes(TEST_KEY));

    const endpoint = fake.endpoints.get(res.body.webhookEndpointId)!;
    assert.equal(endpoint.url, `https://billing.example.test/webhooks/stripe/${accountId}`);
    assert.deepEqual([...endpoint.events].sort(), [...SUBSCRIBED_EVENT_TYPES].sort());
    // Pinned to the version stripe-node (and so every handler) reads, not the account's default.
    assert.equal(endpoint.apiVersion, Stripe.API_VERSION);
    assert.ok(!JSON.stringify(res.body).includes(endpoint.secret));

    const got = await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth);
    assert.deepEqual({ ...got.body, previousSecretExpiresAt: null }, { ...res.body, previousSecretExpiresAt: null });
  });

  it('accepts a restricted key with a warning naming the permissions it needs', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: RESTRICTED_KEY });
    assert.equal(res.status, 200);
    assert.equal(res.body.restricted, true);
    assert.match(res.body.warnings.join(' '), /PaymentIntents: Write, Webhook Endpoints: Write/);
  });

  it('connects an account Stripe says cannot take charges yet, with a warning saying so', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: NOT_ACTIVATED_KEY });
    assert.equal(res.status, 200);
    assert.match(res.body.warnings.join(' '), /cannot take charges yet/);
  });

  it('keeps the key and signing secret only encrypted: neither is anywhere in the database nor in the logs', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: LIVE_KEY });
    assert.equal(res.status, 200);
    const secret = fake.endpoints.get(res.body.webhookEndpointId)!.secret;
    const db = await mysql.createConnection(t.config.DATABASE_URL);
    try {
      const [tables] = await db.query<mysql.RowDataPacket[]>('SHOW TABLES');
      let everything = '';
      for (const row of tables) {
        const [rows] = await db.query(`SELECT * FROM \`${String(Object.values(row)[0])}\``);
        everything += JSON.stringify(rows);
      }
      assert.ok(everything.includes(accountId), 'the search does see the connection rows');
      assert.ok(!everything.includes(LIVE_KEY) && !everything.includes(LIVE_KEY.slice(8)), 'the API key is not stored in clear');
      assert.ok(!everything.includes(secret) && !everything.includes(secret.slice(6)), 'the signing secret is not stored in clear');
    } finally {
      await db.end();
    }
    const logs = t.logs.join('\n');
    for (const value of [TEST_KEY, LIVE_KEY, ROLLED_KEY, RESTRICTED_KEY, secret]) assert.ok(!logs.includes(value), 'not in the logs');
  });

  it('verifies /webhooks/stripe/:accountId with that account\'s secret only', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: TEST_KEY });
    const secret = fake.endpoints.get(res.body.webhookEndpointId)!.secret;
    const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const payload = JSON.stringify(event);
    const ok = await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(payload, secret).headers).send(payload);
    assert.equal(ok.status, 200);
    const [row] = await t.query<{ account_id: string }>('SELECT account_id FROM stripe_events WHERE id = ?', [event.id]);
    assert.equal(row!.account_id, accountId);
    const other = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const otherPayload = JSON.stringify(other);
    const withDefault = await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(otherPayload).headers).send(otherPayload);
    assert.equal(withDefault.status, 400, 'the default account\'s secret does not verify a merchant account');
    assert.equal(withDefault.body.error.code, 'signature_invalid');
  });

  const sendAs = async (accountId: string, secret: string) => {
    const e = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const payload = JSON.stringify(e);
    return (await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(payload, secret).headers).send(payload)).status;
  };

  it('rolls the connection to another mode or Stripe account: a new endpoint, and the previous signing secret verifies for 24 h, then stops', async () => {
    const accountId = await newAccount();
    const first = await connect(accountId, { secretKey: TEST_KEY });
    const oldSecret = fake.endpoints.get(first.body.webhookEndpointId)!.secret;
    const second = await connect(accountId, { secretKey: LIVE_KEY });
    assert.equal(second.status, 200);
    assert.deepEqual([second.body.mode, second.body.keyLast4], ['live', LIVE_KEY.slice(-4)]);
    assert.notEqual(second.body.webhookEndpointId, first.body.webhookEndpointId);
    const newSecret = fake.endpoints.get(second.body.webhookEndpointId)!.secret;
    assert.ok(second.body.previousSecretExpiresAt);

    const send = (secret: string) => sendAs(accountId, secret);
    clock += 3000; // past the secrets cache
    assert.equal(await send(newSecret), 200);
    assert.equal(await send(oldSecret), 200, 'the previous secret still verifies');
    clock += 23 * 3600 * 1000;
    assert.equal(await send(oldSecret), 200, 'still within 24 h');
    clock += 3600 * 1000 + 3000;
    assert.equal(await send(oldSecret), 400, 'after 24 h the previous secret no longer verifies');
    assert.equal(await send(newSecret), 200);
  });

  it('rolls only the key within the same Stripe account and mode: the endpoint and its secret stay, and no endpoint is left behind', async () => {
    const accountId = await newAccount();
    const first = await connect(accountId, { secretKey: TEST_KEY });
    const secret = fake.endpoints.get(first.body.webhookEndpointId)!.secret;
    const endpointsBefore = fake.endpoints.size;
    const second = await connect(accountId, { secretKey: ROLLED_KEY });
    assert.equal(second.status, 200);
    assert.equal(second.body.keyLast4, ROLLED_KEY.slice(-4));
    assert.equal(second.body.webhookEndpointId, first.body.webhookEndpointId);
    assert.equal(second.body.previousSecretExpiresAt, null);
    assert.equal(fake.endpoints.size, endpointsBefore, 'no new endpoint');
    clock += 25 * 3600 * 1000;
    assert.equal(await sendAs(accountId, secret), 200, 'the endpoint\'s secret still verifies a day later');
  });

  it('makes a new endpoint on a roll when the previous one was deleted in the Stripe Dashboard', async () => {
    const accountId = await newAccount();
    const first = await connect(accountId, { secretKey: TEST_KEY });
    fake.endpoints.get(first.body.webhookEndpointId)!.deleted = true;
    const second = await connect(accountId, { secretKey: ROLLED_KEY });
    assert.equal(second.status, 200);
    assert.notEqual(second.body.webhookEndpointId, first.body.webhookEndpointId);
    clock += 3000;
    assert.equal(await sendAs(accountId, fake.endpoints.get(second.body.webhookEndpointId)!.secret), 200);
  });

  it('answers 502 stripe_error, and saves nothing, when Stripe will not create the webhook endpoint', async () => {
    const accountId = await newAccount();
    // Stripe refuses the endpoint (e.g. the account's limit of endpoints): this route answers first, once.
    let refused = false;
    fake.route('POST', /^\/v1\/webhook_endpoints$/, () => {
      if (refused) return undefined;
      refused = true;
      return { status: 400, body: { error: { type: 'invalid_request_error', message: 'You have reached the maximum of 16 test webhook endpoints.' } } };
    });
    const res = await connect(accountId, { secretKey: TEST_KEY });
    assert.deepEqual([res.status, res.body.error?.code], [502, 'stripe_error']);
    assert.match(res.body.error.message, /maximum of 16 test webhook endpoints/);
    assert.equal((await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth)).status, 404);
  });

  it('stores a test-mode event sent to a live connection, ignores it as livemode_mismatch, and counts it on the connection', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: LIVE_KEY });
    const secret = fake.endpoints.get(res.body.webhookEndpointId)!.secret;
    const event = stripeEvent({ type: 'payment_intent.succeeded', resource: 'payment_intent', livemode: false });
    const payload = JSON.stringify(event);
    await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(payload, secret).headers).send(payload).expect(200);
    const result = await settled(t, event.id);
    assert.deepEqual([result.status, result.reason], ['ignored', 'livemode_mismatch']);
    const connection = await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth);
    assert.equal(connection.body.livemodeMismatches, 1);
    assert.ok(connection.body.lastMismatchAt);
  });

  it('ignores (account_mismatch) a merchant\'s signed event about another account\'s payment, and leaves that invoice alone', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: TEST_KEY });
    const merchantSecret = fake.endpoints.get(res.body.webhookEndpointId)!.secret;
    // A payment of the default account, on a default-account invoice.
    const invoice = await t.http
      .post('/api/invoices')
      .set(auth)
      .send({ number: `XT-${Date.now()}`, currency: 'usd', amountDue: 1000, customer: { name: 'Victim', email: 'v@example.com' } });
    const pay = paymentEvents({ invoiceId: invoice.body.id, amount: 1000 });
    const succeeded = pay.paymentIntent('payment_intent.succeeded');
    const payload = JSON.stringify(succeeded);
    await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload).expect(200);
    assert.equal((await settled(t, succeeded.id)).status, 'processed');
    // The merchant signs, with their own endpoint's secret, a refund of that payment.
    const forged = pay.refund('refund.created', { id: `re_forged_${Date.now()}`, amount: 1000, status: 'succeeded' });
    const forgedPayload = JSON.stringify(forged);
    await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(forgedPayload, merchantSecret).headers).send(forgedPayload).expect(200);
    const result = await settled(t, forged.id);
    assert.deepEqual([result.status, result.reason], ['ignored', 'account_mismatch']);
    const after = await t.http.get(`/api/invoices/${invoice.body.id}`).set(auth);
    assert.deepEqual([after.body.status, after.body.amountRefunded], ['paid', 0]);
  });

  it('ignores (account_mismatch) a merchant\'s signed event about another account\'s payout, and leaves that payout alone', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: TEST_KEY });
    const merchantSecret = fake.endpoints.get(res.body.webhookEndpointId)!.secret;
    const payout = payoutEvents({ amount: 5_000 });
    const paid = payout.event('payout.paid');
    const paidPayload = JSON.stringify(paid);
    await t.http.post('/webhooks/stripe').set(signedDelivery(paidPayload).headers).send(paidPayload).expect(200);
    assert.equal((await settled(t, paid.id)).status, 'processed');
    // The merchant signs, with their own endpoint's secret, a failure of the default account's payout.
    const forged = payout.event('payout.failed');
    (forged.data.object as { amount: number }).amount = 999_999;
    const forgedPayload = JSON.stringify(forged);
    await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(forgedPayload, merchantSecret).headers).send(forgedPayload).expect(200);
    const result = await settled(t, forged.id);
    assert.deepEqual([result.status, result.reason], ['ignored', 'account_mismatch']);
    const [row] = await t.query<{ account_id: string | null; status: string; amount: number }>('SELECT account_id, status, amount FROM payouts WHERE id = ?', [
      payout.id,
    ]);
    assert.deepEqual({ ...row, amount: Number(row?.amount) }, { account_id: null, status: 'paid', amount: 5_000 });
  });

  it('disconnects: deletes the endpoint it created, and the account\'s deliveries are no longer verified', async () => {
    const accountId = await newAccount();
    const res = await connect(accountId, { secretKey: TEST_KEY });
    const gone = await t.http.delete(`/api/accounts/${accountId}/stripe`).set(auth);
    assert.equal(gone.status, 204);
    assert.equal(fake.endpoints.get(res.body.webhookEndpointId)!.deleted, true);
    assert.equal((await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth)).status, 404);
    clock += 3000;
    const e = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const payload = JSON.stringify(e);
    const delivery = await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(payload).headers).send(payload);
    assert.equal(delivery.status, 503);
    assert.equal(delivery.body.error.code, 'webhook_not_configured');
  });

  it('needs an admin token', async () => {
    assert.equal((await t.http.post('/api/accounts').send({ name: 'x' })).status, 401);
    assert.equal((await t.http.put('/api/accounts/ma_x/stripe').send({ secretKey: TEST_KEY })).status, 401);
  });

  describe('Pay Now (POST /api/invoices/:id/payment-intent)', () => {
    const invoiceFor = async (accountId: string | null, amountDue = 4200, currency = 'eur') => {
      const res = await t.http
        .post('/api/invoices')
        .set(auth)
        .send({ number: `PN-${Date.now()}-${Math.random()}`, currency, amountDue, customer: { name: 'Payer', email: 'payer@example.com' }, accountId });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };

    it('creates a PaymentIntent for the amount due on the merchant\'s account, carrying metadata.invoice_id', async () => {
      const accountId = await newAccount();
      await connect(accountId, { secretKey: TEST_KEY });
      const invoiceId = await invoiceFor(accountId);
      const before = fake.requests.length;
      const res = await t.http.post(`/api/invoices/${invoiceId}/payment-intent`).set(auth);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(res.body.paymentIntentId, /^pi_/);
      assert.match(res.body.clientSecret, /_secret_/);
      assert.equal(res.body.amount, 4200);
      assert.equal(res.body.currency, 'eur');
      const call = fake.requests.slice(before).find((r) => r.path === '/v1/payment_intents')!;
      assert.equal(call.apiKey, TEST_KEY, 'made with the merchant\'s own key');
      assert.equal(call.form['metadata[invoice_id]'], invoiceId);
      assert.ok(call.idempotencyKey);
    });

    it('gives a double click the same PaymentIntent', async () => {
      const accountId = await newAccount();
      await connect(accountId, { secretKey: TEST_KEY });
      const invoiceId = await invoiceFor(accountId);
      const [a, b] = await Promise.all([
        t.http.post(`/api/invoices/${invoiceId}/payment-intent`).set(auth),
        t.http.post(`/api/invoices/${invoiceId}/payment-intent`).set(auth),
      ]);
      assert.equal(a.body.paymentIntentId, b.body.paymentIntentId);
    });

    it('uses the default account\'s STRIPE_SECRET_KEY for an invoice without an account', async () => {
      const invoiceId = await invoiceFor(null, 1500, 'usd');
      const res = await t.http.post(`/api/invoices/${invoiceId}/payment-intent`).set(auth);
      assert.equal(res.status, 200);
      assert.equal(fake.requests.at(-1)!.apiKey, DEFAULT_KEY);
    });

    it('answers 409 stripe_not_connected for an account that has not connected Stripe', async () => {
      const accountId = await newAccount();
      const invoiceId = await invoiceFor(accountId);
      const res = await t.http.post(`/api/invoices/${invoiceId}/payment-intent`).set(auth);
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'stripe_not_connected');
    });

    it('answers 409 invoice_paid for a paid invoice', async () => {
      const invoiceId = await invoiceFor(null, 1500, 'usd');
      await t.query('UPDATE invoices SET amount_paid = amount_due, status = ? WHERE id = ?', ['paid', invoiceId]);
      const res = await t.http.post(`/api/invoices/${invoiceId}/payment-intent`).set(auth);
      assert.equal(res.status, 409);
      assert.equal(res.body.error.code, 'invoice_paid');
    });

    it('answers 404 for an unknown invoice', async () => {
      const res = await t.http.post('/api/invoices/inv_nope/payment-intent').set(auth);
      assert.equal(res.status, 404);
    });
  });
});

describe('Stripe connection without PUBLIC_BASE_URL (the merchant passes the signing secret)', () => {
  it('keeps the current signing secret when only the key is rolled (deliveries still verify after 24 h), and expires it on a switch to the other mode', async () => {
    const fake = await startFakeStripe();
    const key = 'sk_test_51Hmanual0123456789abcdefMANUAL';
    const rolled = 'sk_test_51Hmanual0123456789abcdefROLLED';
    const live = 'sk_live_fakeMANUAL077';
    fake.addAccount({ id: 'acct_manual', keys: [key, rolled, live] });
    let clock = Date.now();
    const t = await startTestService({ STRIPE_API_BASE: fake.url, ENCRYPTION_KEY }, { now: () => new Date(clock) });
    try {
      const account = await t.http.post('/api/accounts').set(auth).send({ name: 'Manual endpoint' });
      const accountId = account.body.id as string;
      const secret = 'whsec_manual_0123456789abcdef';
      await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey: key, webhookSecret: secret }).expect(200);
      const rolledRes = await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey: rolled });
      assert.equal(rolledRes.status, 200);
      assert.equal(rolledRes.body.keyLast4, rolled.slice(-4));
      assert.equal(rolledRes.body.webhookSecretConfigured, true);
      assert.equal(rolledRes.body.previousSecretExpiresAt ?? null, null);
      assert.ok(!rolledRes.body.warnings.some((w: string) => /No webhook signing secret/.test(w)), rolledRes.body.warnings.join('; '));

      clock += 25 * 3600 * 1000;
      const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
      const payload = JSON.stringify(event);
      const res = await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(payload, secret).headers).send(payload);
      assert.equal(res.status, 200, 'the endpoint\'s secret still verifies a day after the key was rolled');

      // A key of the other mode is another endpoint: the test endpoint's secret verifies 24 h more, then stops.
      const switched = await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey: live });
      assert.equal(switched.status, 200);
      assert.deepEqual([switched.body.mode, switched.body.webhookSecretConfigured], ['live', false]);
      assert.ok(switched.body.previousSecretExpiresAt);
      assert.ok(switched.body.warnings.some((w: string) => /No webhook signing secret/.test(w)), switched.body.warnings.join('; '));
      clock += 25 * 3600 * 1000;
      const later = stripeEvent({ type: 'customer.created', resource: 'customer' });
      const laterPayload = JSON.stringify(later);
      const stale = await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(laterPayload, secret).headers).send(laterPayload);
      assert.equal(stale.status, 503, 'no secret verifies any more: the account needs the live endpoint\'s secret');
    } finally {
      await t.stop();
      await fake.stop();
    }
  });
});

describe('Stripe connection without ENCRYPTION_KEY', () => {
  it('refuses to store a key in clear: 503 encryption_not_configured', async () => {
    const fake = await startFakeStripe();
    fake.addAccount({ keys: ['sk_test_51Hplain0123456789abcdef'] });
    const databaseUrl = uniqueDatabaseUrl('nokey');
    trackDatabase(databaseUrl);
    const t = await startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: '' });
    try {
      const account = await t.http.post('/api/accounts').set(auth).send({ name: 'No key' });
      const res = await t.http.put(`/api/accounts/${account.body.id}/stripe`).set(auth).send({ secretKey: 'sk_test_51Hplain0123456789abcdef' });
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'encryption_not_configured');
      assert.match(res.body.error.message, /ENCRYPTION_KEY/);
    } finally {
      await t.stop();
      await fake.stop();
    }
  });
});

describe('starting with another ENCRYPTION_KEY than the stored keys were sealed with', () => {
  it('refuses to start, saying which key it needs, instead of failing every connected account later', async () => {
    const fake = await startFakeStripe();
    fake.addAccount({ keys: ['sk_test_51Hrotation0123456789abcdef'] });
    const databaseUrl = uniqueDatabaseUrl('enckey');
    trackDatabase(databaseUrl);
    const first = await startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: 'ab'.repeat(32) });
    try {
      const account = await first.http.post('/api/accounts').set(auth).send({ name: 'Sealed' });
      await first.http.put(`/api/accounts/${account.body.id}/stripe`).set(auth).send({ secretKey: 'sk_test_51Hrotation0123456789abcdef' }).expect(200);
    } finally {
      await first.stop();
    }
    await assert.rejects(
      startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: 'cd'.repeat(32) }),
      /ENCRYPTION_KEY: cannot decrypt the Stripe keys stored for 1 connected account .*\nFix: set ENCRYPTION_KEY back to the key they were sealed with/,
    );
    await assert.rejects(startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: '' }), /ENCRYPTION_KEY is not set/);
    const again = await startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: 'ab'.repeat(32) });
    await again.stop();
    await fake.stop();
  });
});
