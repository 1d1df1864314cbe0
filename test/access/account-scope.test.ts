import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakeStripe, type FakeStripe } from '../helpers/fake-stripe.js';
import { connectMerchant, settledIn, type Merchant } from '../helpers/merchants.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth } from '../helpers/billing-client.js';
import { signedDelivery, stripeEvent, uniqueId } from '../helpers/stripe-events.js';
import { accountBooks, markersOf, scopedToken, type AccountBooks } from '../helpers/account-scopes.js';

/**
 * Issue 18: a token with an accountId sees and touches one merchant account's books. What the
 * role matrix's scope axis checks route by route, here in the cases that need more than one
 * request: creating such tokens, what lists hold, what a bulk replay touches.
 */
describe('account-scoped tokens', function () {
  this.timeout(120_000);
  let t: TestService;
  let fake: FakeStripe;
  let a: Merchant;
  let b: Merchant;
  let own: AccountBooks;
  let other: AccountBooks;
  let defaults: AccountBooks;

  before(async () => {
    fake = await startFakeStripe();
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('account_scope'), STRIPE_API_BASE: fake.url });
    a = await connectMerchant(t, fake, 'Alpha Bakery');
    b = await connectMerchant(t, fake, 'Beta Garage');
    own = await accountBooks(t, a);
    other = await accountBooks(t, b);
    defaults = await accountBooks(t, null);
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  const foreign = (text: string) => [...markersOf(other), ...markersOf(defaults)].filter((marker) => text.includes(marker));

  describe('POST /api/tokens with accountId', () => {
    it('creates a token confined to the account: 201 with accountId, listed with it, stored with it, audited with it', async () => {
      const res = await t.http.post('/api/tokens').set(auth).send({ name: 'alpha bookkeeper', role: 'accountant', accountId: a.accountId });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.accountId, a.accountId);
      const listed = (await t.http.get('/api/tokens').set(auth)).body.data.find((x: { id: string }) => x.id === res.body.id);
      assert.equal(listed.accountId, a.accountId);
      const [row] = await t.query<{ account_id: string }>('SELECT account_id FROM access_tokens WHERE id = ?', [res.body.id]);
      assert.equal(row!.account_id, a.accountId);
      const audit = await t.http.get(`/api/ops/audit?target=${res.body.id}`).set(auth);
      assert.equal(audit.body.data[0].details.accountId, a.accountId);
    });

    it('keeps a token without accountId (or with null) for every account, as before', async () => {
      for (const body of [{ name: 'all', role: 'accountant' }, { name: 'all', role: 'accountant', accountId: null }]) {
        const res = await t.http.post('/api/tokens').set(auth).send(body);
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.equal(res.body.accountId, null);
        const seen = await t.http.get('/api/invoices?limit=200').set({ Authorization: `Bearer ${res.body.token}` });
        for (const id of [own.invoiceId, other.invoiceId, defaults.invoiceId]) assert.ok(JSON.stringify(seen.body).includes(id));
      }
    });

    it('answers 400 account_not_found for an account that does not exist, saying where the ids are listed; no token is made', async () => {
      const before = await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_tokens');
      const res = await t.http.post('/api/tokens').set(auth).send({ name: 'typo', role: 'accountant', accountId: 'ma_ffffffffffffffffffff' });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'account_not_found');
      assert.match(res.body.error.message, /ma_ffffffffffffffffffff.*GET \/api\/accounts/);
      assert.deepEqual(await t.query('SELECT COUNT(*) AS n FROM access_tokens'), before);
    });

    for (const [what, accountId] of [
      ['a number', 42],
      ['an empty string', ''],
      ['an object', { id: 'ma_x' }],
    ] as const) {
      it(`answers 400 invalid_account_id for an accountId that is ${what}`, async () => {
        const res = await t.http.post('/api/tokens').set(auth).send({ name: 'bad', role: 'operator', accountId });
        assert.equal(res.status, 400);
        assert.equal(res.body.error.code, 'invalid_account_id');
        assert.match(res.body.error.message, /leave it out/);
      });
    }

    it('lets an admin be scoped: it manages its own account (connection, invoices) but cannot make tokens or accounts', async () => {
      const admin = await scopedToken(t, 'admin', a.accountId);
      assert.equal((await t.http.get(`/api/accounts/${a.accountId}/stripe`).set(admin.headers)).status, 200);
      const invoice = await t.http.post('/api/invoices').set(admin.headers).send({ number: 'ALPHA-1', currency: 'usd', amountDue: 500, customer: { name: 'C', email: 'c@example.com' } });
      assert.equal(invoice.status, 201, JSON.stringify(invoice.body));
      assert.equal(invoice.body.accountId, a.accountId, "an invoice without accountId is the token's account's");
      for (const [method, path, body] of [
        ['post', '/api/tokens', { name: 'escape', role: 'admin' }],
        ['get', '/api/tokens', undefined],
        ['delete', `/api/tokens/${admin.id}`, undefined],
        ['post', '/api/accounts', { name: 'Another' }],
        ['get', '/api/ops/audit', undefined],
      ] as const) {
        const req = t.http[method](path).set(admin.headers);
        const res = body ? await req.send(body) : await req;
        assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'account_scoped');
      }
      const [row] = await t.query<{ revoked_at: Date | null }>('SELECT revoked_at FROM access_tokens WHERE id = ?', [admin.id]);
      assert.equal(row!.revoked_at, null, 'it could not even revoke itself');
    });

    it("does not name the merchant holding a Stripe account when a scoped admin pastes that account's key", async () => {
      const admin = await scopedToken(t, 'admin', a.accountId);
      const res = await t.http.put(`/api/accounts/${a.accountId}/stripe`).set(admin.headers).send({ secretKey: b.secretKey, webhookSecret: 'whsec_other0000000000' });
      assert.equal(res.status, 409, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'stripe_account_in_use');
      assert.ok(!JSON.stringify(res.body).includes(b.accountId), JSON.stringify(res.body));
      assert.equal(res.body.error.connectedTo, undefined);
      const unscoped = await t.http.put(`/api/accounts/${a.accountId}/stripe`).set(auth).send({ secretKey: b.secretKey, webhookSecret: 'whsec_other0000000000' });
      assert.equal(unscoped.body.error.connectedTo, b.accountId, 'an unscoped admin is still told where it is connected');
    });
  });

  describe('what a scoped token reads', () => {
    it("lists only its account's invoices, page after page", async () => {
      const accountant = await scopedToken(t, 'accountant', a.accountId);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: { status: number; body: { data: { id: string; accountId: string }[]; nextCursor: string | null } } = await t.http
          .get(`/api/invoices?limit=1${cursor ? `&cursor=${cursor}` : ''}`)
          .set(accountant.headers);
        assert.equal(res.status, 200);
        for (const invoice of res.body.data) {
          assert.equal(invoice.accountId, a.accountId);
          seen.push(invoice.id);
        }
        cursor = res.body.nextCursor;
      } while (cursor);
      const [{ n }] = (await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM invoices WHERE account_id = ?', [a.accountId])) as [{ n: number }];
      assert.equal(seen.length, Number(n));
      assert.ok(seen.includes(own.invoiceId) && seen.includes(own.openInvoiceId));
    });

    it("reconciles its account's invoices only: totals, counts, unmatched payments and every CSV line", async () => {
      const accountant = await scopedToken(t, 'accountant', a.accountId);
      const report = await t.http.get('/api/reconciliation/invoices').set(accountant.headers);
      assert.equal(report.status, 200);
      const [{ n }] = (await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM invoices WHERE account_id = ?', [a.accountId])) as [{ n: number }];
      assert.equal(report.body.invoiceCount, Number(n));
      assert.equal(report.body.totals.reduce((sum: number, x: { invoices: number }) => sum + x.invoices, 0), Number(n));
      assert.deepEqual(
        report.body.unmatchedPayments.map((p: { id: string }) => p.id),
        [own.unmatchedPaymentId],
      );
      assert.deepEqual(foreign(report.text), []);

      const csv = await t.http.get('/api/reconciliation/invoices?format=csv').set(accountant.headers);
      assert.equal(csv.status, 200);
      const [header, ...lines] = csv.text.trimEnd().split('\r\n');
      const accountColumn = header!.split(',').indexOf('account_id');
      const invoiceLines = lines.filter((line) => line.startsWith('invoice,'));
      assert.equal(invoiceLines.length, Number(n));
      for (const line of invoiceLines) assert.equal(line.split(',')[accountColumn], a.accountId, line);
      assert.ok(lines.some((line) => line.includes(own.unmatchedPaymentId)));
      assert.deepEqual(foreign(csv.text), []);
    });

    it('finds nothing of another account through any id or number, nor through an account filter', async () => {
      const operator = await scopedToken(t, 'operator', a.accountId);
      for (const q of [other.invoiceId, other.invoiceNumber, other.paymentIntentId, other.chargeId, other.eventId, defaults.paymentIntentId]) {
        for (const filters of ['', '&status=processed', '&since=1d']) {
          const res = await t.http.get(`/api/ops/events?q=${q}${filters}`).set(operator.headers);
          assert.equal(res.status, 200);
          assert.deepEqual(res.body.data, [], `q=${q}${filters}`);
        }
      }
      for (const accountId of [b.accountId, 'default']) {
        const res = await t.http.get(`/api/ops/events?accountId=${accountId}`).set(operator.headers);
        assert.deepEqual(res.body.data, [], accountId);
      }
      const mine = await t.http.get(`/api/ops/events?q=${own.invoiceNumber}`).set(operator.headers);
      assert.ok(mine.body.data.some((e: { id: string }) => e.id === own.eventId), 'its own invoice number finds its events');
    });

    it('reads its copy of an event delivered to two accounts, without learning of the other copy', async () => {
      const event = stripeEvent({ type: 'customer.created', resource: 'customer', object: { id: uniqueId('cus') } });
      for (const merchant of [a, b]) {
        await merchant.deliver(event);
        await settledIn(t, event.id, merchant.accountId);
      }
      const operator = await scopedToken(t, 'operator', a.accountId);
      const mine = await t.http.get(`/api/ops/events/${event.id}`).set(operator.headers);
      assert.equal(mine.status, 200, JSON.stringify(mine.body));
      assert.equal(mine.body.accountId, a.accountId);
      assert.ok(!mine.text.includes(b.accountId));
      const replayed = await t.http.post(`/api/ops/events/${event.id}/replay`).set(operator.headers);
      assert.equal(replayed.status, 202, JSON.stringify(replayed.body));
      assert.equal(replayed.body.accountId, a.accountId);
      const unscoped = await t.http.get(`/api/ops/events/${event.id}`).set(auth);
      assert.equal(unscoped.status, 409, 'an unscoped token must still say which copy');
      assert.equal(unscoped.body.error.code, 'event_ambiguous');
    });

    it("replays in bulk its account's events only; the others' stay as they were, with no replay recorded", async () => {
      const operator = await scopedToken(t, 'operator', a.accountId);
      const ignored = (accountId: string | null) =>
        t.query<{ id: string; status: string }>(
          "SELECT id, status FROM stripe_events WHERE type = 'customer.created' AND account_id <=> ? AND status = 'ignored' ORDER BY id",
          [accountId],
        );
      const [mine, theirs, defaultOnes] = [await ignored(a.accountId), await ignored(b.accountId), await ignored(null)];
      assert.ok(mine.length > 0 && theirs.length > 0 && defaultOnes.length > 0);
      const res = await t.http.post('/api/ops/replay').set(operator.headers).send({ status: 'ignored', type: 'customer.created' });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.matched, mine.length);
      assert.equal(res.body.enqueued, mine.length);
      assert.deepEqual(await ignored(b.accountId), theirs);
      assert.deepEqual(await ignored(null), defaultOnes);
      const replays = await t.query<{ account_scope: string }>('SELECT DISTINCT account_scope FROM event_replays WHERE audit_id = ?', [res.body.auditId]);
      assert.deepEqual(replays.map((r) => r.account_scope), [a.accountId]);
      for (const { id } of mine) await settledIn(t, id, a.accountId);
    });
  });

  it('keeps the default account (STRIPE_WEBHOOK_SECRET) for unscoped tokens: its events, invoices and payouts are not found by a scoped one', async () => {
    const event = stripeEvent({ type: 'customer.created', resource: 'customer', object: { id: uniqueId('cus') } });
    const payload = JSON.stringify(event);
    assert.equal((await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload)).status, 200);
    await settledIn(t, event.id, null);
    const paths = {
      operator: [`/api/ops/events/${event.id}`],
      accountant: [`/api/invoices/${defaults.invoiceId}`, `/api/payouts/${defaults.payoutId}`],
      admin: [`/api/ops/events/${event.id}`, `/api/invoices/${defaults.invoiceId}`, `/api/payouts/${defaults.payoutId}`],
    };
    for (const [role, list] of Object.entries(paths)) {
      const token = await scopedToken(t, role, a.accountId);
      for (const path of list) {
        const res = await t.http.get(path).set(token.headers);
        assert.equal(res.status, 404, `${role} ${path}`);
        assert.match(res.body.error.code, /^(event|invoice|payout)_not_found$/);
        assert.equal((await t.http.get(path).set(auth)).status, 200, `ADMIN_TOKEN ${path}`);
      }
    }
  });
});
