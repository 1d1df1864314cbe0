import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../helpers/test-service.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken, type Role } from '../helpers/ops-client.js';
import { startFakeStripe, type FakeStripe } from '../helpers/fake-stripe.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { accountBooks, bodyText, markersOf, missingBooks, scopedToken, type AccountBooks } from '../helpers/account-scopes.js';

/**
 * DESIGN.md's role table, one row per route: `admin` (all), `accountant`
 * (invoices, reconciliation, payouts, dashboard; read only), `operator` (ops
 * and queue UI). A route added to the app without a row here fails the
 * "every route has a row" test below.
 */
type Access = Role | 'any' | 'public';
const MATRIX: [method: string, path: string, access: Access][] = [
  // invoices: accountants read, the merchant app (admin) writes
  ['POST', '/api/invoices', 'admin'],
  ['GET', '/api/invoices', 'accountant'],
  ['GET', '/api/invoices/inv_000000000000000000000000', 'accountant'],
  ['POST', '/api/invoices/inv_000000000000000000000000/payment-intent', 'admin'],
  // pay links: accountants (and the merchant app) hand them out and revoke them; the payer's browser uses one
  ['POST', '/api/invoices/inv_000000000000000000000000/pay-link', 'accountant'],
  ['DELETE', '/api/invoices/inv_000000000000000000000000/pay-link/pl_000000000000000000000000', 'accountant'],
  // reconciliation and payouts: accountants, read only
  ['GET', '/api/reconciliation/invoices', 'accountant'],
  ['GET', '/api/payouts', 'accountant'],
  ['GET', '/api/payouts/po_000000000000', 'accountant'],
  // Stripe connections: admin
  ['POST', '/api/accounts', 'admin'],
  ['GET', '/api/accounts', 'admin'],
  ['GET', '/api/accounts/acct_nope', 'admin'],
  ['PUT', '/api/accounts/acct_nope/stripe', 'admin'],
  ['GET', '/api/accounts/acct_nope/stripe', 'admin'],
  ['DELETE', '/api/accounts/acct_nope/stripe', 'admin'],
  // PayPal connections: admin, as Stripe's
  ['PUT', '/api/accounts/acct_nope/paypal', 'admin'],
  ['GET', '/api/accounts/acct_nope/paypal', 'admin'],
  ['DELETE', '/api/accounts/acct_nope/paypal', 'admin'],
  // on-call: operators
  ['GET', '/api/ops/events', 'operator'],
  ['GET', '/api/ops/events/evt_nope', 'operator'],
  ['POST', '/api/ops/events/evt_nope/replay', 'operator'],
  ['POST', '/api/ops/replay', 'operator'],
  ['GET', '/api/ops/audit', 'operator'],
  ['GET', '/api/ops/catch-up', 'operator'],
  ['POST', '/api/ops/catch-up', 'operator'],
  ['GET', '/api/ops/catch-up/jobs/op-default-000000000000', 'operator'],
  // the drift check reads Stripe with the account's key and repairs by catching up: on-call's
  ['GET', '/api/ops/drift', 'operator'],
  ['POST', '/api/ops/drift/repair', 'operator'],
  // repairing a merchant's webhook endpoint is on-call's fix for "payments stopped arriving"
  ['POST', '/api/accounts/acct_nope/stripe/endpoint/repair', 'operator'],
  ['GET', '/ops/queues', 'operator'],
  ['GET', '/ops/queues/api/queues', 'operator'],
  ['PUT', '/ops/queues/api/queues/stripe-events/promote', 'operator'],
  // access: admin
  ['POST', '/api/tokens', 'admin'],
  ['GET', '/api/tokens', 'admin'],
  ['DELETE', '/api/tokens/tok_000000000000000000000000', 'admin'],
  // what the caller's own token is: any valid token
  ['GET', '/api/me', 'any'],
  // no token by design: the page holds no data and asks for a token for its API calls;
  // health and metrics are for orchestrators and Prometheus; webhooks are authenticated by their signature
  ['GET', '/dashboard', 'public'],
  ['GET', '/healthz', 'public'],
  ['GET', '/readyz', 'public'],
  ['GET', '/metrics', 'public'],
  // the queue UI's sign-in form (it checks the posted token itself); a pay link is the payer's authentication
  ['GET', '/ops/queues/login', 'public'],
  ['POST', '/ops/queues/login', 'public'],
  ['POST', '/pay/bpl_000000000000000000000000000000000000000000a', 'public'],
  ['GET', '/pay/bpl_000000000000000000000000000000000000000000a', 'public'],
  ['POST', '/pay/bpl_000000000000000000000000000000000000000000a/paypal', 'public'],
  ['POST', '/pay/bpl_000000000000000000000000000000000000000000a/paypal/capture', 'public'],
];
/** Routes that take no bearer token: webhooks authenticate by signature; the dashboard page's static files hold no data. */
const NO_TOKEN = ['POST /webhooks/stripe', 'POST /webhooks/stripe/:accountId', 'POST /webhooks/paypal/:accountId', 'GET /dashboard/:file'];

/** Every METHOD path the Express app routes, read from its router stack. */
function routesOf(app: Express): string[] {
  const found: string[] = [];
  const walk = (stack: { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) found.push(`${method.toUpperCase()} ${layer.route.path}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack as never);
      }
    }
  };
  walk((app as unknown as { router: { stack: never[] } }).router.stack);
  return found;
}

const asPattern = (path: string) => new RegExp(`^${path.replace(/:[A-Za-z]+/g, '[^/]+')}$`);

describe('access: the role table on every route', () => {
  let t: TestService;
  const tokens: Partial<Record<Role | 'revoked', string>> = {};

  before(async () => {
    t = await startTestService();
    for (const role of ['admin', 'accountant', 'operator'] as const) tokens[role] = (await createToken(t, role, `matrix-${role}`)).token;
    const revoked = await createToken(t, 'admin', 'matrix-revoked');
    await t.http.delete(`/api/tokens/${revoked.id}`).set(auth).expect(204);
    tokens.revoked = revoked.token;
  });
  after(() => t.stop());

  it('has a row for every route the app serves', () => {
    const app = t.service.app!;
    const served = routesOf(app);
    assert.ok(served.length > 10, `found the routes (${served.join(', ')})`);
    const missing = served.filter(
      (route) =>
        !NO_TOKEN.includes(route) &&
        !MATRIX.some(([method, path]) => route.startsWith(`${method} `) && asPattern(route.slice(method.length + 1)).test(path)),
    );
    assert.deepEqual(missing, [], 'add a MATRIX row (method, example path, role) for each of these');
  });

  const send = (method: string, path: string) => t.http[method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'](path);

  for (const [method, path, access] of MATRIX) {
    if (access === 'public') {
      it(`${method} ${path} needs no token`, async () => {
        // From this service's own page, as a browser posts the queue UI's sign-in form.
        const res = await send(method, path).set('Origin', t.baseUrl);
        assert.ok(![401, 403].includes(res.status), `got ${res.status}`);
      });
      continue;
    }
    describe(`${method} ${path} (${access})`, () => {
      it('answers 401 unauthorized without a token, with an unknown one, and with a revoked one', async () => {
        for (const headers of [{}, bearer('bld_not-a-real-token-000000000000000000000000'), bearer(`${TEST_ADMIN_TOKEN}x`), bearer(tokens.revoked!)]) {
          const res = await send(method, path).set(headers);
          assert.equal(res.status, 401, `${JSON.stringify(headers)} → ${res.status}`);
          if (res.type === 'application/json') assert.equal(res.body.error.code, 'unauthorized');
        }
      });
      for (const role of ['accountant', 'operator', 'admin'] as const) {
        const allowed = role === 'admin' || role === access || access === 'any';
        it(allowed ? `lets an ${role} token through` : `answers 403 forbidden to an ${role} token`, async () => {
          const res = await send(method, path).set(bearer(tokens[role]!));
          if (allowed) assert.ok(![401, 403].includes(res.status), `got ${res.status} ${JSON.stringify(res.body)}`);
          else {
            assert.equal(res.status, 403, JSON.stringify(res.body));
            assert.equal(res.body.error.code, 'forbidden');
          }
        });
      }
      it('lets ADMIN_TOKEN through', async () => {
        const res = await send(method, path).set(auth);
        assert.ok(![401, 403].includes(res.status), `got ${res.status}`);
      });
    });
  }
});

/**
 * The scope axis (issue 18): a token with an accountId sees and touches that merchant account
 * only. Every route × role × (unscoped, scoped to A asking for A's, scoped to A asking for B's
 * or the default account's). Another account's object answers exactly as a missing one (status,
 * code, message: only the id differs), lists hold the token's account's rows only, and no answer
 * to a scoped token (JSON, CSV, errors) carries any id or number of another account's books.
 */
type ScopeKind =
  /** names one object of the books (or an account in the body or the filter) */
  | 'object'
  /** lists many: the token's account's rows only */
  | 'list'
  /** spans every account: 403 account_scoped to a scoped token */
  | 'unscoped_only'
  /** GET /api/me */
  | 'me';
interface ScopeRow {
  method: string;
  /** The Express route, as the coverage check reads it. */
  route: string;
  access: Role | 'any';
  kind: ScopeKind;
  path: (books: AccountBooks) => string;
  body?: (books: AccountBooks) => object;
  /** list: an id of these books the answer must show (null: these books have none here). */
  lists?: (books: AccountBooks) => string | null;
  /** object: false when the default account has no such object (accounts routes). */
  defaultAccount?: boolean;
}

const SCOPE_ROWS: ScopeRow[] = [
  {
    method: 'POST',
    route: '/api/invoices',
    access: 'admin',
    kind: 'object',
    path: () => '/api/invoices',
    body: (b) => ({ number: `SCOPE-NEW-${randomBytes(4).toString('hex')}`, currency: 'usd', amountDue: 100, customer: { name: 'N', email: 'n@example.com' }, accountId: b.accountId }),
    // A scoped token's invoice without accountId is its own account's, not the default account's.
    defaultAccount: false,
  },
  { method: 'GET', route: '/api/invoices', access: 'accountant', kind: 'list', path: () => '/api/invoices?limit=200', lists: (b) => b.invoiceId },
  { method: 'GET', route: '/api/invoices/:id', access: 'accountant', kind: 'object', path: (b) => `/api/invoices/${b.invoiceId}` },
  { method: 'POST', route: '/api/invoices/:id/payment-intent', access: 'admin', kind: 'object', path: (b) => `/api/invoices/${b.openInvoiceId}/payment-intent` },
  { method: 'POST', route: '/api/invoices/:id/pay-link', access: 'accountant', kind: 'object', path: (b) => `/api/invoices/${b.openInvoiceId}/pay-link`, body: () => ({}) },
  { method: 'DELETE', route: '/api/invoices/:id/pay-link/:linkId', access: 'accountant', kind: 'object', path: (b) => `/api/invoices/${b.openInvoiceId}/pay-link/${b.payLinkId}` },
  { method: 'GET', route: '/api/reconciliation/invoices', access: 'accountant', kind: 'list', path: () => '/api/reconciliation/invoices?limit=5000', lists: (b) => b.invoiceId },
  { method: 'GET', route: '/api/reconciliation/invoices', access: 'accountant', kind: 'list', path: () => '/api/reconciliation/invoices?limit=5000', lists: (b) => b.unmatchedPaymentId },
  { method: 'GET', route: '/api/reconciliation/invoices', access: 'accountant', kind: 'list', path: () => '/api/reconciliation/invoices?format=csv', lists: (b) => b.invoiceNumber },
  { method: 'GET', route: '/api/reconciliation/invoices', access: 'accountant', kind: 'list', path: () => '/api/reconciliation/invoices?format=csv', lists: (b) => b.unmatchedPaymentId },
  { method: 'GET', route: '/api/payouts', access: 'accountant', kind: 'list', path: () => '/api/payouts?limit=500', lists: (b) => b.payoutId },
  { method: 'GET', route: '/api/payouts/:id', access: 'accountant', kind: 'object', path: (b) => `/api/payouts/${b.payoutId}` },
  { method: 'POST', route: '/api/accounts', access: 'admin', kind: 'unscoped_only', path: () => '/api/accounts', body: () => ({ name: 'Not made' }) },
  { method: 'GET', route: '/api/accounts', access: 'admin', kind: 'list', path: () => '/api/accounts', lists: (b) => b.accountId },
  { method: 'GET', route: '/api/accounts/:id', access: 'admin', kind: 'object', path: (b) => `/api/accounts/${b.accountId}`, defaultAccount: false },
  { method: 'PUT', route: '/api/accounts/:id/stripe', access: 'admin', kind: 'object', path: (b) => `/api/accounts/${b.accountId}/stripe`, body: () => ({}), defaultAccount: false },
  { method: 'GET', route: '/api/accounts/:id/stripe', access: 'admin', kind: 'object', path: (b) => `/api/accounts/${b.accountId}/stripe`, defaultAccount: false },
  { method: 'DELETE', route: '/api/accounts/:id/stripe', access: 'admin', kind: 'object', path: (b) => `/api/accounts/${b.accountId}/stripe`, defaultAccount: false },
  { method: 'PUT', route: '/api/accounts/:id/paypal', access: 'admin', kind: 'object', path: (b) => `/api/accounts/${b.accountId}/paypal`, body: () => ({}), defaultAccount: false },
  { method: 'GET', route: '/api/accounts/:id/paypal', access: 'admin', kind: 'object', path: (b) => `/api/accounts/${b.accountId}/paypal`, defaultAccount: false },
  { method: 'DELETE', route: '/api/accounts/:id/paypal', access: 'admin', kind: 'object', path: (b) => `/api/accounts/${b.accountId}/paypal`, defaultAccount: false },
  { method: 'GET', route: '/api/ops/events', access: 'operator', kind: 'list', path: () => '/api/ops/events?limit=200', lists: (b) => b.eventId },
  // Found through an invoice number: another account's number finds what a missing one finds (nothing, searched alike).
  { method: 'GET', route: '/api/ops/events', access: 'operator', kind: 'object', path: (b) => `/api/ops/events?q=${b.invoiceNumber}&since=1d` },
  // Filtered by an account: another account's filter matches what a missing one matches (nothing).
  { method: 'GET', route: '/api/ops/events', access: 'operator', kind: 'object', path: (b) => `/api/ops/events?accountId=${b.accountId ?? 'default'}` },
  { method: 'GET', route: '/api/ops/events/:eventId', access: 'operator', kind: 'object', path: (b) => `/api/ops/events/${b.eventId}` },
  { method: 'POST', route: '/api/ops/events/:eventId/replay', access: 'operator', kind: 'object', path: (b) => `/api/ops/events/${b.eventId}/replay` },
  {
    method: 'POST',
    route: '/api/ops/replay',
    access: 'operator',
    kind: 'object',
    path: () => '/api/ops/replay',
    body: (b) => ({ status: 'ignored', type: 'customer.created', accountId: b.accountId ?? 'default', dryRun: true }),
  },
  { method: 'GET', route: '/api/ops/audit', access: 'operator', kind: 'unscoped_only', path: () => '/api/ops/audit' },
  // Catch-up: a scoped token sees, runs, follows and repairs its own account's only.
  { method: 'GET', route: '/api/ops/catch-up', access: 'operator', kind: 'list', path: () => '/api/ops/catch-up', lists: (b) => b.accountId },
  {
    method: 'POST',
    route: '/api/ops/catch-up',
    access: 'operator',
    kind: 'object',
    path: () => '/api/ops/catch-up',
    body: (b) => ({ accountId: b.accountId ?? 'default', since: '1h' }),
  },
  { method: 'GET', route: '/api/ops/catch-up/jobs/:jobId', access: 'operator', kind: 'object', path: (b) => `/api/ops/catch-up/jobs/${b.catchUpJobId}`, defaultAccount: false },
  {
    method: 'POST',
    route: '/api/accounts/:id/stripe/endpoint/repair',
    access: 'operator',
    kind: 'object',
    path: (b) => `/api/accounts/${b.accountId}/stripe/endpoint/repair`,
    defaultAccount: false,
  },
  // An account's books against its Stripe account: another account (the default one too) answers as a missing one.
  { method: 'GET', route: '/api/ops/drift', access: 'operator', kind: 'object', path: (b) => `/api/ops/drift?accountId=${b.accountId ?? 'default'}&from=1d` },
  {
    method: 'POST',
    route: '/api/ops/drift/repair',
    access: 'operator',
    kind: 'object',
    path: () => '/api/ops/drift/repair',
    body: (b) => ({ accountId: b.accountId ?? 'default', from: '1d' }),
  },
  { method: 'GET', route: '/ops/queues', access: 'operator', kind: 'unscoped_only', path: () => '/ops/queues' },
  { method: 'GET', route: '/ops/queues/api/queues', access: 'operator', kind: 'unscoped_only', path: () => '/ops/queues/api/queues' },
  { method: 'PUT', route: '/ops/queues/api/queues/stripe-events/pause', access: 'operator', kind: 'unscoped_only', path: () => '/ops/queues/api/queues/stripe-events/pause' },
  { method: 'POST', route: '/api/tokens', access: 'admin', kind: 'unscoped_only', path: () => '/api/tokens', body: () => ({ name: 'escape', role: 'admin' }) },
  { method: 'GET', route: '/api/tokens', access: 'admin', kind: 'unscoped_only', path: () => '/api/tokens' },
  { method: 'DELETE', route: '/api/tokens/:id', access: 'admin', kind: 'unscoped_only', path: () => '/api/tokens/tok_000000000000000000000000' },
  { method: 'GET', route: '/api/me', access: 'any', kind: 'me', path: () => '/api/me' },
];

describe('access: the scope axis on every route (unscoped, own account, another account)', function () {
  this.timeout(120_000);
  let t: TestService;
  let fake: FakeStripe;
  const merchants = new Map<string, Merchant>();
  let own: AccountBooks;
  let other: AccountBooks;
  let defaults: AccountBooks;
  const missing = missingBooks();
  const unscoped: Partial<Record<Role, Record<string, string>>> = {};
  const scoped: Partial<Record<Role, Record<string, string>>> = {};

  before(async () => {
    fake = await startFakeStripe();
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('scope_matrix'), STRIPE_API_BASE: fake.url });
    for (const name of ['Own Books Ltd', 'Other Books Ltd']) {
      const merchant = await connectMerchant(t, fake, name);
      merchants.set(merchant.accountId, merchant);
    }
    const [a, b] = [...merchants.values()];
    own = await accountBooks(t, a!);
    other = await accountBooks(t, b!);
    defaults = await accountBooks(t, null);
    for (const role of ['admin', 'accountant', 'operator'] as const) {
      unscoped[role] = (await scopedToken(t, role, null)).headers;
      scoped[role] = (await scopedToken(t, role, own.accountId)).headers;
    }
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  it('has a scope row for every route that takes a token', () => {
    const missingRows = routesOf(t.service.app!).filter(
      (route) =>
        !NO_TOKEN.includes(route) &&
        !MATRIX.some(([method, path, access]) => access === 'public' && route.startsWith(`${method} `) && asPattern(route.slice(method.length + 1)).test(path)) &&
        !SCOPE_ROWS.some((row) => route === `${row.method} ${row.route}`),
    );
    assert.deepEqual(missingRows, [], 'add a SCOPE_ROWS row (method, route, what it names or lists) for each of these');
  });

  const send = (row: ScopeRow, headers: Record<string, string>, books: AccountBooks) => {
    const req = t.http[row.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'](row.path(books)).set(headers);
    return row.body ? req.send(row.body(books)) : req;
  };
  /** Every id and number of `books` replaced by its field name: another account's answer must read as a missing one's. */
  const normalised = (text: string, books: AccountBooks) =>
    (Object.entries(books) as [string, string | null][])
      .filter(([, value]) => value)
      .sort(([, x], [, y]) => y!.length - x!.length)
      .reduce((out, [field, value]) => out.split(value!).join(`<${field}>`), text);
  const answer = (res: { status: number; text?: string; body?: unknown }, books: AccountBooks) => `${res.status} ${normalised(bodyText(res), books)}`;
  const foreignIn = (text: string, ...books: AccountBooks[]) => books.flatMap(markersOf).filter((marker) => text.includes(marker));
  /** What a DELETE of a connection undid, put back, so the next request finds the merchant connected. */
  const reconnect = async (row: ScopeRow, books: AccountBooks) => {
    if (row.method !== 'DELETE' || row.route !== '/api/accounts/:id/stripe' || !books.accountId) return;
    const merchant = merchants.get(books.accountId)!;
    const res = await t.http.put(`/api/accounts/${merchant.accountId}/stripe`).set(auth).send({ secretKey: merchant.secretKey, webhookSecret: merchant.webhookSecret });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };

  for (const row of SCOPE_ROWS) {
    const label = `${row.method} ${row.path(missingBooks())}`;
    describe(`${label} (${row.access}, ${row.kind})`, () => {
      for (const role of ['accountant', 'operator', 'admin'] as const) {
        const allowed = role === 'admin' || row.access === role || row.access === 'any';
        const an = role === 'operator' ? 'an operator' : role === 'admin' ? 'an admin' : 'an accountant';
        if (!allowed) {
          it(`answers 403 forbidden to ${role} tokens, unscoped or scoped, for any account's objects`, async () => {
            for (const [headers, books] of [
              [unscoped[role]!, own],
              [scoped[role]!, own],
              [scoped[role]!, other],
            ] as const) {
              const res = await send(row, headers, books);
              assert.equal(res.status, 403, bodyText(res));
              assert.equal(res.body.error.code, 'forbidden');
            }
          });
          continue;
        }

        if (row.kind === 'unscoped_only') {
          it(`answers 403 account_scoped to ${an} token scoped to an account, naming no object`, async () => {
            const res = await send(row, scoped[role]!, own);
            assert.equal(res.status, 403, bodyText(res));
            assert.equal(res.body.error.code, 'account_scoped');
            assert.deepEqual(foreignIn(bodyText(res), other, defaults), []);
          });
          continue;
        }

        if (row.kind === 'me') {
          it(`tells ${an} token which account it sees: its own, or every one (null)`, async () => {
            const mine = await send(row, scoped[role]!, own);
            assert.equal(mine.status, 200);
            assert.equal(mine.body.accountId, own.accountId);
            assert.deepEqual(mine.body.account, { id: own.accountId, name: 'Own Books Ltd' });
            assert.deepEqual(foreignIn(bodyText(mine), other, defaults), []);
            const all = await send(row, unscoped[role]!, own);
            assert.equal(all.status, 200);
            assert.deepEqual([all.body.role, all.body.accountId, all.body.account], [role, null, null]);
          });
          continue;
        }

        if (row.kind === 'list') {
          it(`lists every account's rows to an unscoped ${role} token, and only its own account's to a scoped one`, async () => {
            const all = await send(row, unscoped[role]!, own);
            assert.equal(all.status, 200, bodyText(all));
            for (const books of [own, other, defaults]) {
              const shown = row.lists!(books);
              if (shown) assert.ok(bodyText(all).includes(shown), `the unscoped answer lists ${shown}`);
            }
            const mine = await send(row, scoped[role]!, own);
            assert.equal(mine.status, 200, bodyText(mine));
            assert.ok(bodyText(mine).includes(row.lists!(own)!), `the scoped answer lists its own ${row.lists!(own)}`);
            assert.deepEqual(foreignIn(bodyText(mine), other, defaults), [], 'no id or number of another account');
            if (mine.type === 'application/json') {
              const rows = (mine.body.data ?? mine.body.invoices) as { accountId?: string | null }[] | undefined;
              for (const item of rows ?? []) if ('accountId' in item) assert.equal(item.accountId, own.accountId);
            }
          });
          continue;
        }

        it(`lets an unscoped ${role} token at every account's object`, async () => {
          const none = await send(row, unscoped[role]!, missing);
          for (const books of row.defaultAccount === false ? [own, other] : [own, other, defaults]) {
            const res = await send(row, unscoped[role]!, books);
            await reconnect(row, books);
            assert.ok(![401, 403].includes(res.status), `${res.status} ${bodyText(res)}`);
            assert.notEqual(answer(res, books), answer(none, missing), `the ${books.accountId ?? 'default'} account's object is found`);
          }
        });

        it(`lets ${an} token scoped to an account at its own object`, async () => {
          const none = await send(row, scoped[role]!, missing);
          const res = await send(row, scoped[role]!, own);
          await reconnect(row, own);
          assert.ok(![401, 403].includes(res.status), `${res.status} ${bodyText(res)}`);
          assert.notEqual(answer(res, own), answer(none, missing), 'its own object is found');
          assert.deepEqual(foreignIn(bodyText(res), other, defaults), [], 'no id or number of another account');
        });

        it(`answers ${an} token scoped to an account about another account's object exactly as about a missing one`, async () => {
          const none = await send(row, scoped[role]!, missing);
          for (const books of row.defaultAccount === false ? [other] : [other, defaults]) {
            const res = await send(row, scoped[role]!, books);
            assert.equal(answer(res, books), answer(none, missing), `the ${books.accountId ?? 'default'} account's object`);
            assert.notEqual(res.status, 403, 'never a 403 that confirms it exists');
            assert.deepEqual(foreignIn(bodyText(res), ...[other, defaults].filter((b) => b !== books)), []);
          }
        });
      }
    });
  }
});
