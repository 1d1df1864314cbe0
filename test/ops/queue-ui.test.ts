import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';

describe('queue UI at /ops/queues', () => {
  let t: TestService;
  let operator: { id: string; token: string };
  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui') });
    operator = await createToken(t, 'operator', 'erin (on-call)');
  });
  after(() => t.stop());

  it('serves the bull-board page, its assets and its API to an operator with a bearer token', async () => {
    const page = await t.http.get('/ops/queues').set(bearer(operator.token));
    assert.equal(page.status, 200);
    assert.match(page.type, /html/);
    assert.match(page.text, /<base href="\/ops\/queues\/"/);
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.text)?.[1];
    assert.ok(script, 'the page loads its script from the board');
    const asset = await t.http.get(`/ops/queues/${script}`).set(bearer(operator.token));
    assert.equal(asset.status, 200);
    const queues = await t.http.get('/ops/queues/api/queues').set(bearer(operator.token));
    assert.equal(queues.status, 200);
    assert.deepEqual(queues.body.queues.map((q: { name: string }) => q.name).sort(), ['maintenance', 'payout-reconciliation', 'stripe-events', 'stripe-sync']);
  });

  it("keeps helmet's CSP compatible with the page: its scripts are same-origin files, none inline", async () => {
    const page = await t.http.get('/ops/queues').set(bearer(operator.token));
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    // Every <script> either loads a same-origin file or is a JSON data block, which CSP does not run.
    for (const tag of page.text.match(/<script[^>]*>/g) ?? []) {
      assert.ok(/src="static\//.test(tag) || /type="application\/json"/.test(tag), tag);
    }
  });

  // The form's own page posts it: a browser sends this origin with the POST.
  const login = (token: string, headers: Record<string, string> = {}) => t.http.post('/ops/queues/login').set('Origin', t.baseUrl).set(headers).type('form').send({ token });

  it('answers 401 without a token and 403 to an accountant, in the API and at the login form', async () => {
    assert.equal((await t.http.get('/ops/queues')).status, 401);
    assert.equal((await t.http.get('/ops/queues/api/queues')).status, 401);
    const accountant = await createToken(t, 'accountant');
    assert.equal((await t.http.get('/ops/queues').set(bearer(accountant.token))).status, 403);
    const refused = await login(accountant.token);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['set-cookie'], undefined);
    const unknown = await login('not-a-token-at-all');
    assert.equal(unknown.status, 401);
    assert.equal(unknown.headers['set-cookie'], undefined);
  });

  it('refuses a token confined to one merchant account at the login form (no cookie) and in the API: the queues hold every account\'s jobs', async () => {
    const merchant = await t.http.post('/api/accounts').set(auth).send({ name: 'Scoped & Co' });
    assert.equal(merchant.status, 201, JSON.stringify(merchant.body));
    const scoped = await t.http.post('/api/tokens').set(auth).send({ name: 'scoped on-call', role: 'operator', accountId: merchant.body.id });
    assert.equal(scoped.status, 201, JSON.stringify(scoped.body));
    const refused = await login(scoped.body.token);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['set-cookie'], undefined);
    assert.match(refused.text, /one merchant account only/);
    const api = await t.http.get('/ops/queues/api/queues').set(bearer(scoped.body.token));
    assert.deepEqual([api.status, api.body.error?.code], [403, 'account_scoped']);
  });

  it('GET /ops/queues/login shows a form that posts the token in the body; a browser without the cookie is sent there', async () => {
    const form = await t.http.get('/ops/queues/login');
    assert.equal(form.status, 200);
    assert.match(form.type, /html/);
    assert.match(form.text, /<form method="post" action="\/ops\/queues\/login">/);
    assert.match(form.text, /name="token" type="password"/);
    const browser = await t.http.get('/ops/queues').set('Accept', 'text/html,application/xhtml+xml');
    assert.equal(browser.status, 303);
    assert.equal(browser.headers.location, '/ops/queues/login');
  });

  it('POST /ops/queues/login with the token in the body sets an HttpOnly SameSite=Strict cookie and redirects to /ops/queues/ only', async () => {
    const res = await t.http.post('/ops/queues/login?next=https://evil.example/&redirect=//evil.example').set('Origin', t.baseUrl).type('form').send({ token: operator.token, next: 'https://evil.example/' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, '/ops/queues/');
    const cookie = String(res.headers['set-cookie']);
    assert.match(cookie, /^billed_ops_token=/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Path=\/ops\/queues/);
    assert.doesNotMatch(cookie, /Secure/, 'plain http, no proxy trusted');
    const jar = cookie.split(';')[0]!;
    assert.equal((await t.http.get('/ops/queues/').set('Cookie', jar)).status, 200);
    assert.equal((await t.http.get('/ops/queues/api/queues').set('Cookie', jar)).status, 200);
  });

  it('no longer takes ?token= in a URL: no cookie, the login page with a note', async () => {
    for (const path of ['/ops/queues', '/ops/queues/login']) {
      const res = await t.http.get(`${path}?token=${encodeURIComponent(operator.token)}`);
      assert.equal(res.headers['set-cookie'], undefined, path);
      assert.match(res.type, /html/);
      assert.match(res.text, /no longer accepted/);
    }
    assert.equal((await t.http.get(`/ops/queues/api/queues?token=${encodeURIComponent(operator.token)}`)).status, 401);
  });

  it('without TRUST_PROXY, X-Forwarded-Proto: https from the client is not believed: no Secure', async () => {
    const res = await login(operator.token, { 'X-Forwarded-Proto': 'https' });
    assert.equal(res.status, 303);
    assert.doesNotMatch(String(res.headers['set-cookie']), /Secure/);
  });

  it('stops honouring the cookie the moment its token is revoked', async () => {
    const short = await createToken(t, 'operator');
    const jar = String((await login(short.token)).headers['set-cookie']).split(';')[0]!;
    assert.equal((await t.http.get('/ops/queues/api/queues').set('Cookie', jar)).status, 200);
    await t.http.delete(`/api/tokens/${short.id}`).set(auth).expect(204);
    assert.equal((await t.http.get('/ops/queues/api/queues').set('Cookie', jar)).status, 401);
  });
});

describe('queue UI behind a TLS proxy (TRUST_PROXY=1)', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui_proxy'), ROLE: 'api', TRUST_PROXY: '1' });
  });
  after(() => t.stop());

  it('the login cookie gets Secure when the proxy says X-Forwarded-Proto: https, and not over plain http', async () => {
    const operator = await createToken(t, 'operator');
    const own = new URL(t.baseUrl);
    const viaTls = await t.http.post('/ops/queues/login').set('X-Forwarded-Proto', 'https').set('Origin', `https://${own.host}`).type('form').send({ token: operator.token });
    assert.equal(viaTls.status, 303);
    assert.match(String(viaTls.headers['set-cookie']), /; Secure/);
    const plain = await t.http.post('/ops/queues/login').set('Origin', t.baseUrl).type('form').send({ token: operator.token });
    assert.doesNotMatch(String(plain.headers['set-cookie']), /Secure/);
  });
});
