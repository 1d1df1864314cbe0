import assert from 'node:assert/strict';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from './helpers/test-service.js';
import { startFakeStripe, type FakeStripe } from './helpers/fake-stripe.js';
import { uniqueDatabaseUrl } from './helpers/test-database.js';

const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/**
 * Issue 12, tenants: one Stripe account (its acct_ id, from GET /v1/account) serves one merchant
 * account. Connected to two, each would receive the other's events and hold the other's payments.
 */
describe('one Stripe account, one merchant account (PUT /api/accounts/:id/stripe)', () => {
  let t: TestService;
  let fake: FakeStripe & { endpoints: Map<string, { deleted: boolean }> };
  let n = 0;

  before(async () => {
    fake = await startFakeStripe();
    t = await startTestService({ STRIPE_API_BASE: fake.url, PUBLIC_BASE_URL: 'https://billing.example.test', DATABASE_URL: uniqueDatabaseUrl('acct_in_use') });
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  /** A Stripe account of the fake API with two keys of its own (test mode, and one to roll to). */
  const stripeAccount = () => {
    const tag = `${process.pid}x${++n}x${Date.now()}`;
    const keys = [`sk_test_51H${tag}first`, `sk_test_51H${tag}rolled`];
    return { ...fake.addAccount({ keys }), keys };
  };
  const newAccount = async (name: string) => {
    const res = await t.http.post('/api/accounts').set(auth).send({ name });
    assert.equal(res.status, 201);
    return res.body.id as string;
  };
  const connect = (accountId: string, secretKey: string) => t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey });
  const liveEndpoints = () => [...fake.endpoints.values()].filter((e) => !e.deleted).length;

  it('answers 409 stripe_account_in_use, naming the merchant account that holds it and how to free it, and saves nothing', async () => {
    const stripe = stripeAccount();
    const first = await newAccount('First Ltd');
    const second = await newAccount('Second Ltd');
    assert.equal((await connect(first, stripe.keys[0]!)).status, 200);
    const endpoints = liveEndpoints();

    // Either of the Stripe account's keys: the account is what counts, not the key.
    for (const key of stripe.keys) {
      const res = await connect(second, key);
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'stripe_account_in_use');
      assert.match(res.body.error.message, new RegExp(`${stripe.id} is already connected to merchant account ${first}`));
      assert.match(res.body.error.message, new RegExp(`DELETE /api/accounts/${first}/stripe`));
      assert.deepEqual([res.body.error.stripeAccountId, res.body.error.connectedTo], [stripe.id, first]);
    }
    assert.equal((await t.http.get(`/api/accounts/${second}/stripe`).set(auth)).status, 404, 'nothing saved');
    assert.equal(liveEndpoints(), endpoints, 'no webhook endpoint created at Stripe for the refused connection');
    const held = await t.http.get(`/api/accounts/${first}/stripe`).set(auth);
    assert.deepEqual([held.status, held.body.stripeAccountId], [200, stripe.id], 'the holder keeps its connection');
  });

  it('lets the merchant account that holds it connect again (a key roll), and another one once it has disconnected', async () => {
    const stripe = stripeAccount();
    const first = await newAccount('Rolling Ltd');
    const second = await newAccount('Next Ltd');
    assert.equal((await connect(first, stripe.keys[0]!)).status, 200);
    const rolled = await connect(first, stripe.keys[1]!);
    assert.deepEqual([rolled.status, rolled.body.keyLast4], [200, stripe.keys[1]!.slice(-4)]);
    assert.equal((await connect(second, stripe.keys[0]!)).status, 409);
    assert.equal((await t.http.delete(`/api/accounts/${first}/stripe`).set(auth)).status, 204);
    const moved = await connect(second, stripe.keys[0]!);
    assert.deepEqual([moved.status, moved.body.stripeAccountId], [200, stripe.id]);
  });

  it('lets only one of two merchant accounts connecting the same Stripe account at once win', async () => {
    const stripe = stripeAccount();
    const accounts = [await newAccount('Racer A'), await newAccount('Racer B')];
    const endpoints = liveEndpoints();
    const answers = await Promise.all(accounts.map((id) => connect(id, stripe.keys[0]!)));
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 409], JSON.stringify(answers.map((r) => r.body)));
    const loser = answers.find((r) => r.status === 409)!;
    assert.equal(loser.body.error.code, 'stripe_account_in_use');
    const holders = await t.query<{ account_id: string }>('SELECT account_id FROM stripe_connections WHERE stripe_account_id = ?', [stripe.id]);
    assert.equal(holders.length, 1);
    assert.equal(liveEndpoints(), endpoints + 1, 'the loser\'s webhook endpoint, if it made one, is deleted again');
  });

  it('is enforced by the database too: a second row with the same Stripe account is refused', async () => {
    const stripe = stripeAccount();
    const first = await newAccount('Db A');
    const second = await newAccount('Db B');
    assert.equal((await connect(first, stripe.keys[0]!)).status, 200);
    await assert.rejects(
      t.query(
        `INSERT INTO stripe_connections (account_id, mode, key_last4, restricted, secret_key_enc, stripe_account_id, connected_at)
         SELECT ?, mode, key_last4, restricted, secret_key_enc, stripe_account_id, NOW(3) FROM stripe_connections WHERE account_id = ?`,
        [second, first],
      ),
      /Duplicate entry/,
    );
  });

  describe("the default account's Stripe account (STRIPE_SECRET_KEY)", () => {
    let withDefault: TestService;
    let defaultStripe: { id: string; keys: string[] };
    before(async () => {
      defaultStripe = stripeAccount();
      withDefault = await startTestService({
        STRIPE_API_BASE: fake.url,
        STRIPE_SECRET_KEY: defaultStripe.keys[0]!,
        PUBLIC_BASE_URL: 'https://billing.example.test',
        DATABASE_URL: uniqueDatabaseUrl('acct_default'),
      });
    });
    after(() => withDefault?.stop());

    it('answers 409 stripe_account_in_use when a merchant connects it: its events already reach /webhooks/stripe, and each payment can belong to one account only', async () => {
      const created = await withDefault.http.post('/api/accounts').set(auth).send({ name: 'Same Stripe Ltd' });
      const endpoints = liveEndpoints();
      const res = await withDefault.http.put(`/api/accounts/${created.body.id}/stripe`).set(auth).send({ secretKey: defaultStripe.keys[1]! });
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'stripe_account_in_use');
      assert.equal(res.body.error.connectedTo, 'default');
      assert.match(res.body.error.message, /is the default account's \(STRIPE_SECRET_KEY\)/);
      assert.equal(liveEndpoints(), endpoints, 'no webhook endpoint created at Stripe for the refused connection');
      // Another Stripe account connects as before.
      const other = stripeAccount();
      assert.equal((await withDefault.http.put(`/api/accounts/${created.body.id}/stripe`).set(auth).send({ secretKey: other.keys[0]! })).status, 200);
    });
  });
});
