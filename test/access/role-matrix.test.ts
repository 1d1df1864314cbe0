import assert from 'node:assert/strict';
import type { Express } from 'express';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../helpers/test-service.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken, type Role } from '../helpers/ops-client.js';

/**
 * DESIGN.md's role table, one row per route: `admin` (all), `accountant`
 * (invoices, reconciliation, payouts, dashboard; read only), `operator` (ops
 * and queue UI). A route added to the app without a row here fails the
 * "every route has a row" test below.
 */
type Access = Role | 'public';
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
  ['GET', '/api/accounts/acct_nope', 'admin'],
  ['PUT', '/api/accounts/acct_nope/stripe', 'admin'],
  ['GET', '/api/accounts/acct_nope/stripe', 'admin'],
  ['DELETE', '/api/accounts/acct_nope/stripe', 'admin'],
  // on-call: operators
  ['GET', '/api/ops/events', 'operator'],
  ['GET', '/api/ops/events/evt_nope', 'operator'],
  ['POST', '/api/ops/events/evt_nope/replay', 'operator'],
  ['POST', '/api/ops/replay', 'operator'],
  ['GET', '/api/ops/audit', 'operator'],
  ['GET', '/ops/queues', 'operator'],
  ['GET', '/ops/queues/api/queues', 'operator'],
  ['PUT', '/ops/queues/api/queues/stripe-events/promote', 'operator'],
  // access: admin
  ['POST', '/api/tokens', 'admin'],
  ['GET', '/api/tokens', 'admin'],
  ['DELETE', '/api/tokens/tok_000000000000000000000000', 'admin'],
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
];
/** Routes that take no bearer token: webhooks authenticate by signature; the dashboard page's static files hold no data. */
const NO_TOKEN = ['POST /webhooks/stripe', 'POST /webhooks/stripe/:accountId', 'GET /dashboard/:file'];

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
        const allowed = role === 'admin' || role === access;
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
