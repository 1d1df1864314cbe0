import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { startTestService, TEST_ENCRYPTION_KEY, type TestService } from './helpers/test-service.js';
import { startFakeStripe, type FakeStripe } from './helpers/fake-stripe.js';
import { trackDatabase, uniqueDatabaseUrl } from './helpers/test-database.js';
import { connectMerchant, type Merchant } from './helpers/merchants.js';
import { auth } from './helpers/billing-client.js';
import { signedDelivery, stripeEvent } from './helpers/stripe-events.js';

/** How values were sealed before they were bound to their account: AES-256-GCM, no additional data. */
function sealV1(plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(TEST_ENCRYPTION_KEY, 'hex'), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

type SealedRow = { secret_key_enc: string; webhook_secrets_enc: string | null };

describe('sealed Stripe keys are bound to their account', function () {
  this.timeout(60_000);
  let fake: FakeStripe;
  let t: TestService;
  const databaseUrl = uniqueDatabaseUrl('sealed_keys');
  const start = () => startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url });
  const sealed = async (accountId: string) => (await t.query<SealedRow>('SELECT secret_key_enc, webhook_secrets_enc FROM stripe_connections WHERE account_id = ?', [accountId]))[0]!;
  // Merchant's own helpers talk to the service it was connected on: these follow restarts.
  const payNow = async (m: Merchant) => {
    const invoice = await t.http
      .post('/api/invoices')
      .set(auth)
      .send({ number: `SK-${randomBytes(6).toString('hex')}`, currency: 'usd', amountDue: 1500, customer: { name: 'Payer', email: 'payer@example.com' }, accountId: m.accountId });
    assert.equal(invoice.status, 201, JSON.stringify(invoice.body));
    return t.http.post(`/api/invoices/${invoice.body.id}/payment-intent`).set(auth);
  };
  const deliver = async (m: Merchant) => {
    const payload = JSON.stringify(stripeEvent({ type: 'charge.succeeded', resource: 'charge' }));
    return t.http.post(`/webhooks/stripe/${m.accountId}`).set(signedDelivery(payload, m.webhookSecret).headers).send(payload);
  };

  before(async () => {
    trackDatabase(databaseUrl);
    fake = await startFakeStripe();
    t = await start();
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  it("refuses a key and signing secrets copied onto another account's row (never decrypted), naming the account; the first account keeps working", async () => {
    const a = await connectMerchant(t, fake, 'A');
    const b = await connectMerchant(t, fake, 'B');
    const fromA = await sealed(a.accountId);
    await t.query('UPDATE stripe_connections SET secret_key_enc = ?, webhook_secrets_enc = ? WHERE account_id = ?', [fromA.secret_key_enc, fromA.webhook_secrets_enc, b.accountId]);

    const refused = await payNow(b);
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'stripe_connection_unusable');
    assert.match(refused.body.error.message, new RegExp(`account ${b.accountId}.*PUT /api/accounts/${b.accountId}/stripe`));
    assert.ok(!fake.requests.some((r) => r.apiKey === a.secretKey && r.path === '/v1/payment_intents'), "no PaymentIntent was made with A's key");
    assert.equal((await t.http.get(`/api/accounts/${b.accountId}/stripe`).set(auth)).body.error.code, 'stripe_connection_unusable');
    // A's signing secret, now in B's row, does not verify B's deliveries.
    const payload = JSON.stringify(stripeEvent({ type: 'charge.succeeded', resource: 'charge' }));
    const delivery = await t.http.post(`/webhooks/stripe/${b.accountId}`).set(signedDelivery(payload, a.webhookSecret).headers).send(payload);
    assert.notEqual(delivery.status, 200, JSON.stringify(delivery.body));
    assert.ok(t.logs.some((line) => line.includes('"level":"error"') && line.includes(b.accountId) && /not sealed for this account/.test(line)));

    assert.equal((await payNow(a)).status, 200);
    assert.equal((await deliver(a)).status, 200);

    // A restart is not stopped by it (it is not an ENCRYPTION_KEY problem), and says which account is refused.
    await t.stop();
    t = await start();
    assert.ok(t.logs.some((line) => /sealed for another account/.test(line) && line.includes(b.accountId) && line.includes(a.accountId)));
    assert.equal((await payNow(b)).status, 409);
    assert.equal((await payNow(a)).status, 200);

    // Connecting B again is the way out.
    const again = await t.http.put(`/api/accounts/${b.accountId}/stripe`).set(auth).send({ secretKey: b.secretKey, webhookSecret: b.webhookSecret });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal((await payNow(b)).status, 200);
  });

  it('re-seals values stored before the binding (v1) at start-up, once; they still open, and a copied one no longer does', async () => {
    const c = await connectMerchant(t, fake, 'C');
    const d = await connectMerchant(t, fake, 'D');
    const secrets = JSON.stringify([{ secret: c.webhookSecret, expiresAt: null }]);
    await t.query("UPDATE stripe_connections SET secret_key_enc = ?, webhook_secrets_enc = ? WHERE account_id = ?", [sealV1(c.secretKey), sealV1(secrets), c.accountId]);
    await t.stop();
    t = await start();

    const row = await sealed(c.accountId);
    assert.match(row.secret_key_enc, /^v2\./);
    assert.match(row.webhook_secrets_enc!, /^v2\./);
    assert.ok(t.logs.some((line) => /re-sealed stored Stripe secrets/.test(line)));
    assert.equal((await payNow(c)).status, 200);
    const call = fake.requests.filter((r) => r.path === '/v1/payment_intents').at(-1)!;
    assert.equal(call.apiKey, c.secretKey);
    assert.equal((await deliver(c)).status, 200);

    // Idempotent: the next start changes nothing.
    await t.stop();
    t = await start();
    assert.deepEqual(await sealed(c.accountId), row);
    assert.ok(!t.logs.some((line) => /re-sealed stored Stripe secrets/.test(line)));

    // Bound now: C's re-sealed key copied to D is refused.
    await t.query('UPDATE stripe_connections SET secret_key_enc = ? WHERE account_id = ?', [row.secret_key_enc, d.accountId]);
    assert.equal((await payNow(d)).body.error.code, 'stripe_connection_unusable');
  });
});
