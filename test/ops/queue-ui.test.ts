import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { waitFor } from '../helpers/wait-for.js';

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
    assert.deepEqual(queues.body.queues.map((q: { name: string }) => q.name).sort(), ['maintenance', 'payout-reconciliation', 'stripe-events']);
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

  it('answers 401 without a token and 403 to an accountant', async () => {
    assert.equal((await t.http.get('/ops/queues')).status, 401);
    assert.equal((await t.http.get('/ops/queues/api/queues')).status, 401);
    const accountant = await createToken(t, 'accountant');
    assert.equal((await t.http.get('/ops/queues').set(bearer(accountant.token))).status, 403);
    assert.equal((await t.http.get(`/ops/queues?token=${accountant.token}`)).status, 403, 'nor through ?token=');
  });

  it('takes the token once in ?token=, keeps it in an HttpOnly SameSite=Strict cookie and drops it from the URL', async () => {
    const login = await t.http.get(`/ops/queues?token=${encodeURIComponent(operator.token)}`);
    assert.equal(login.status, 303);
    assert.equal(login.headers.location, '/ops/queues');
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /^billed_ops_token=/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Path=\/ops\/queues/);
    const jar = cookie.split(';')[0]!;
    assert.equal((await t.http.get('/ops/queues').set('Cookie', jar)).status, 200);
    assert.equal((await t.http.get('/ops/queues/api/queues').set('Cookie', jar)).status, 200);
  });

  it('stops honouring the cookie the moment its token is revoked', async () => {
    const short = await createToken(t, 'operator');
    const jar = String((await t.http.get(`/ops/queues?token=${short.token}`)).headers['set-cookie']).split(';')[0]!;
    await t.http.delete(`/api/tokens/${short.id}`).set(auth).expect(204);
    assert.equal((await t.http.get('/ops/queues/api/queues').set('Cookie', jar)).status, 401);
  });

  it('writes changes made through the UI to the audit log', async () => {
    const pause = await t.http.put('/ops/queues/api/queues/maintenance/pause').set(bearer(operator.token));
    assert.equal(pause.status, 200, pause.text);
    await t.http.put('/ops/queues/api/queues/maintenance/resume').set(bearer(operator.token)).expect(200);
    const entries = await waitFor('the audit entries', async () => {
      const res = await t.http.get('/api/ops/audit').query({ action: 'queue_ui.change', actor: 'erin (on-call)' }).set(auth);
      return res.body.data.length === 2 ? res.body.data : undefined;
    });
    assert.deepEqual(
      entries.map((e: { target: string; details: { method: string } }) => [e.details.method, e.target]),
      [
        ['PUT', '/api/queues/maintenance/resume'],
        ['PUT', '/api/queues/maintenance/pause'],
      ],
    );
  });
});
