import assert from 'node:assert/strict';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../helpers/test-service.js';
import { stripeEvent } from '../helpers/stripe-events.js';
import { assertClientError, sendRaw, signedWebhook, type RawRequest } from '../helpers/hostile-http.js';
import { SECURITY_HEADERS } from '../../src/http/security-headers.js';

/**
 * Issue 18, small leaks: an unauthenticated OPTIONS listed each path's methods; webhook answers
 * lacked nosniff and echoed an account id of any length (`No merchant account "<img src=x>"`);
 * 404s echoed ids of any length; bull-board's sub-app sent X-Powered-By.
 */
const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const JSON_TYPE = { 'content-type': 'application/json' };
/** An id far longer than any real one, of a letter no message uses in a run. */
const LONG = 'Z'.repeat(4000);
const ECHO_MAX = 64;

describe('what the edge tells a caller', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  const send = (request: RawRequest) => sendRaw(t.baseUrl, request);

  describe('OPTIONS tells nothing', () => {
    const paths = [
      '/api/invoices',
      '/api/invoices/inv_000000000000000000000000',
      '/api/tokens',
      '/api/ops/events',
      '/webhooks/stripe',
      '/webhooks/stripe/ma_00000000000000000000',
      '/dashboard',
      '/dashboard/dashboard.js',
      '/healthz',
      '/metrics',
      '/ops/queues',
      '/ops/queues/login',
      '/pay/bpl_000000000000000000000000000000000000000000a',
      '/no/such/path',
    ];
    for (const path of paths) {
      it(`OPTIONS ${path}, as a CORS preflight, without and with a token: the 404 of a path that does not exist, no Allow`, async () => {
        for (const headers of [{}, ADMIN]) {
          const res = await send({ method: 'OPTIONS', path, headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', ...headers } });
          assertClientError(res, 404, 'not_found');
          assert.equal(res.headers.allow, undefined, `Allow: ${String(res.headers.allow)}`);
          assert.deepEqual(Object.keys(res.headers).filter((h) => h.startsWith('access-control-')), []);
        }
      });
    }
  });

  describe('echoed input is capped and only ever JSON', () => {
    const cases: [string, RawRequest][] = [
      ['an unknown path', { path: `/${LONG}` }],
      ['a webhook to an unknown account (Express: the id is longer than the intake takes)', signedWebhook(JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' })), {}, `/webhooks/stripe/${LONG}`)],
      ['GET /api/invoices/:id', { path: `/api/invoices/${LONG}`, headers: ADMIN }],
      ['POST /api/invoices/:id/payment-intent', { method: 'POST', path: `/api/invoices/${LONG}/payment-intent`, headers: ADMIN }],
      ['POST /api/invoices/:id/pay-link', { method: 'POST', path: `/api/invoices/${LONG}/pay-link`, headers: ADMIN }],
      ['DELETE /api/invoices/:id/pay-link/:linkId', { method: 'DELETE', path: `/api/invoices/${LONG}/pay-link/${LONG}`, headers: ADMIN }],
      ['GET /api/payouts/:id', { path: `/api/payouts/${LONG}`, headers: ADMIN }],
      ['GET /api/accounts/:id', { path: `/api/accounts/${LONG}`, headers: ADMIN }],
      ['GET /api/accounts/:id/stripe', { path: `/api/accounts/${LONG}/stripe`, headers: ADMIN }],
      ['DELETE /api/accounts/:id/stripe', { method: 'DELETE', path: `/api/accounts/${LONG}/stripe`, headers: ADMIN }],
      ['DELETE /api/tokens/:id', { method: 'DELETE', path: `/api/tokens/${LONG}`, headers: ADMIN }],
      ['GET /api/ops/events/:eventId', { path: `/api/ops/events/${LONG}`, headers: ADMIN }],
      ['POST /api/ops/events/:eventId/replay', { method: 'POST', path: `/api/ops/events/${LONG}/replay`, headers: ADMIN }],
      [
        'POST /api/invoices with an unknown accountId',
        {
          method: 'POST',
          path: '/api/invoices',
          headers: { ...ADMIN, ...JSON_TYPE },
          body: JSON.stringify({ number: 'ECHO-1', currency: 'usd', amountDue: 100, customer: { name: 'A', email: 'a@example.com' }, accountId: LONG }),
        },
      ],
      ['a body key holding half a surrogate pair', { method: 'POST', path: '/api/tokens', headers: { ...ADMIN, ...JSON_TYPE }, body: `{"${LONG}": "\\ud800"}` }],
    ];
    for (const [name, request] of cases) {
      it(`${name}: at most ${ECHO_MAX} characters of a 4,000-character id come back`, async () => {
        const res = await send(request);
        assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.text.slice(0, 300)}`);
        assertClientError(res, res.status, /./);
        assert.ok(!res.text.includes('Z'.repeat(ECHO_MAX + 1)), `echoed whole: ${res.text.slice(0, 300)}`);
      });
    }

    it('a 404 says which path, cut with an ellipsis', async () => {
      const res = await send({ path: `/${LONG}` });
      assert.equal((res.body as { error: { message: string } }).error.message, `No route GET /${'Z'.repeat(ECHO_MAX - 1)}…: see the API in docs/api.md.`);
    });

    it('markup in an echoed id is JSON-escaped (\\u003c), never sent as <', async () => {
      const res = await send(signedWebhook(JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' })), {}, '/webhooks/stripe/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E'));
      assertClientError(res, 404, 'account_not_found');
      assert.equal((res.body as { error: { message: string } }).error.message.slice(0, 51), 'No merchant account "<img src=x onerror=alert(1)>":');
      assert.ok(!/[<>]/.test(res.text), res.text);
      assert.match(res.text, /\\u003cimg src=x onerror=alert\(1\)\\u003e/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });
  });

  describe("helmet's headers on every answer", () => {
    const payload = JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' }));
    const answers: [string, () => RawRequest][] = [
      ['a stored webhook (intake)', () => signedWebhook(JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' })))],
      ['a webhook with a bad signature (intake)', () => signedWebhook(payload, { 'stripe-signature': 't=1,v1=00' })],
      ['a webhook to an unknown account (intake)', () => signedWebhook(payload, {}, '/webhooks/stripe/ma_00000000000000000000')],
      ['a webhook over 1 MB (intake)', () => signedWebhook(Buffer.alloc(1024 * 1024 + 1, 0x20))],
      ['a stored webhook (Express: trailing slash)', () => signedWebhook(JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' })), {}, '/webhooks/stripe/')],
      ['a webhook with a bad signature (Express)', () => signedWebhook(payload, { 'stripe-signature': 't=1,v1=00' }, '/webhooks/stripe/')],
      ['GET /healthz', () => ({ path: '/healthz' })],
      ['GET /readyz', () => ({ path: '/readyz' })],
      ['GET /metrics', () => ({ path: '/metrics' })],
      ['GET /dashboard', () => ({ path: '/dashboard' })],
      ['GET /dashboard/dashboard.js', () => ({ path: '/dashboard/dashboard.js' })],
      ['a 401 from /api', () => ({ path: '/api/invoices' })],
      ['a 200 from /api', () => ({ path: '/api/invoices', headers: ADMIN })],
      ['a 404', () => ({ path: '/no/such/path' })],
      ['an OPTIONS', () => ({ method: 'OPTIONS', path: '/api/invoices' })],
      ['POST /pay/:token for an unknown link', () => ({ method: 'POST', path: '/pay/bpl_000000000000000000000000000000000000000000a' })],
      ['the queue UI sign-in form', () => ({ path: '/ops/queues/login' })],
      ['the queue UI (bull-board)', () => ({ path: '/ops/queues/', headers: ADMIN })],
      ["the queue UI's API (bull-board)", () => ({ path: '/ops/queues/api/queues', headers: ADMIN })],
    ];
    for (const [name, request] of answers) {
      it(`${name}: nosniff and the rest of helmet's set, no X-Powered-By`, async () => {
        const res = await send(request());
        assert.ok(res.status > 0);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
        assert.equal(res.headers['x-powered-by'], undefined, `X-Powered-By: ${String(res.headers['x-powered-by'])}`);
        // The queue UI's pages send their Origin on their own form and calls (its origin check needs it): same-origin there.
        const expected = name.startsWith('the queue UI') ? { ...SECURITY_HEADERS, 'Referrer-Policy': 'same-origin' } : SECURITY_HEADERS;
        for (const [header, value] of Object.entries(expected)) assert.equal(res.headers[header.toLowerCase()], value, header);
      });
    }
  });
});
