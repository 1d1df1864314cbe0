import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { sendRaw } from '../helpers/hostile-http.js';
import { PAYOUT_QUEUE_NAME } from '../../src/reconciliation/payout-queue.js';

/** The payout queue as a second client sees it: a delayed job there shows whether a Promote went through. */
function payoutQueue(t: TestService) {
  const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(PAYOUT_QUEUE_NAME, { connection, prefix: t.config.QUEUE_PREFIX });
  return {
    queue,
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

describe('queue UI: a change made with the sign-in cookie must come from its own pages', () => {
  let t: TestService;
  let payouts: ReturnType<typeof payoutQueue>;
  let operator: { id: string; token: string };
  /** The operator's browser: the sign-in cookie. */
  let jar: string;
  // ROLE=api: no worker takes a promoted job, so its state shows what the request did.
  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui_origin'), ROLE: 'api' });
    payouts = payoutQueue(t);
    operator = await createToken(t, 'operator', 'olga (on-call)');
    const login = await t.http.post('/ops/queues/login').set('Origin', t.baseUrl).type('form').send({ token: operator.token });
    assert.equal(login.status, 303, login.text);
    jar = String(login.headers['set-cookie']).split(';')[0]!;
  });
  after(async () => {
    await payouts?.close();
    await t?.stop();
  });

  const delayedJob = async () => (await payouts.queue.add('payout.items', { payoutId: `po_origin_${Date.now()}`, generation: 1 }, { delay: 3_600_000 })).id!;
  const promote = (jobId: string) => t.http.put(`/ops/queues/api/queues/${PAYOUT_QUEUE_NAME}/${jobId}/promote`).set('Cookie', jar);

  it('refuses a cookie-only change from another site, a sibling subdomain or an opaque origin: 403 origin_mismatch, nothing changed', async () => {
    const jobId = await delayedJob();
    const port = new URL(t.baseUrl).port;
    for (const origin of ['https://evil.example', `http://evil.127.0.0.1.nip.io:${port}`, `http://localhost:${port}`, 'null', `${t.baseUrl}.evil.example`]) {
      const res = await promote(jobId).set('Origin', origin);
      assert.equal(res.status, 403, origin);
      assert.equal(res.body.error.code, 'origin_mismatch', origin);
      assert.match(res.body.error.message, /not from this service/);
      assert.match(res.body.error.message, /TRUST_PROXY/);
    }
    // No Origin, and a Referer from elsewhere: the Referer is what is checked.
    const viaReferer = await promote(jobId).set('Referer', 'https://evil.example/page');
    assert.equal(viaReferer.status, 403);
    assert.equal(viaReferer.body.error.code, 'origin_mismatch');
    assert.match(viaReferer.body.error.message, /its Referer/);
    assert.equal(await payouts.queue.getJobState(jobId), 'delayed', 'the job was not promoted');
  });

  it('refuses a cookie-only change with neither Origin nor Referer: 403 origin_missing', async () => {
    const jobId = await delayedJob();
    const res = await promote(jobId);
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'origin_missing');
    assert.match(res.body.error.message, /neither/);
    assert.equal(await payouts.queue.getJobState(jobId), 'delayed');
  });

  it("takes the change from its own origin, or from its own Referer when the browser sent no Origin", async () => {
    const first = await delayedJob();
    assert.equal((await promote(first).set('Origin', t.baseUrl)).status, 204);
    assert.equal(await payouts.queue.getJobState(first), 'waiting');
    const second = await delayedJob();
    assert.equal((await promote(second).set('Referer', `${t.baseUrl}/ops/queues/queue/${PAYOUT_QUEUE_NAME}`)).status, 204);
    assert.equal(await payouts.queue.getJobState(second), 'waiting');
  });

  it('answers a change with no credentials at all 401, whatever its origin: the origin check is for cookie sign-ins', async () => {
    const res = await t.http.put(`/ops/queues/api/queues/${PAYOUT_QUEUE_NAME}/promote`).set('Origin', 'https://evil.example');
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'unauthorized');
  });

  it('takes a bearer-header request without Origin: a script, not a page another site could make post', async () => {
    const jobId = await delayedJob();
    const res = await t.http.put(`/ops/queues/api/queues/${PAYOUT_QUEUE_NAME}/${jobId}/promote`).set(bearer(operator.token));
    assert.equal(res.status, 204, res.text);
    assert.equal(await payouts.queue.getJobState(jobId), 'waiting');
  });

  it("a cross-site POST of an attacker's token to the login form sets no cookie (the victim is not signed in as the attacker)", async () => {
    const attacker = await createToken(t, 'operator', 'mallory');
    for (const origin of ['https://evil.example', 'null']) {
      const res = await t.http.post('/ops/queues/login').set('Origin', origin).type('form').send({ token: attacker.token });
      assert.equal(res.status, 403, origin);
      assert.equal(res.body.error.code, 'origin_mismatch');
      assert.equal(res.headers['set-cookie'], undefined, origin);
    }
    const blind = await t.http.post('/ops/queues/login').type('form').send({ token: attacker.token });
    assert.equal(blind.status, 403);
    assert.equal(blind.body.error.code, 'origin_missing');
    assert.equal(blind.headers['set-cookie'], undefined);
  });

  it("the sign-in page asks browsers to send this origin with its form (helmet's no-referrer would make it Origin: null)", async () => {
    const form = await t.http.get('/ops/queues/login');
    assert.equal(form.headers['referrer-policy'], 'same-origin');
  });

  it('never sets a cookie from a URL: ?token= anywhere under /ops/queues, with or without a signed-in cookie, signs nobody in', async () => {
    const attacker = await createToken(t, 'operator', 'mallory-url');
    for (const path of ['/ops/queues', '/ops/queues/', '/ops/queues//', '/ops/queues/login', '/ops/queues/queue/stripe-events', '/ops/queues/api/queues']) {
      for (const headers of [{}, { Cookie: jar }, { Accept: 'text/html' }] as Record<string, string>[]) {
        const res = await sendRaw(t.baseUrl, { path: `${path}?token=${encodeURIComponent(attacker.token)}`, headers });
        assert.equal(res.headers['set-cookie'], undefined, `${path} ${JSON.stringify(headers)}`);
        // Without the victim's cookie, the URL's token authenticates nothing.
        if (!('Cookie' in headers)) assert.ok([401, 200].includes(res.status) && !/"queues"/.test(res.text), `${path}: ${res.status}`);
      }
    }
    // The cookie still names the victim: the audit log would show the victim, not the attacker.
    const mine = await t.http.put(`/ops/queues/api/queues/${PAYOUT_QUEUE_NAME}/${await delayedJob()}/promote?token=${encodeURIComponent(attacker.token)}`).set('Cookie', jar).set('Origin', t.baseUrl);
    assert.equal(mine.status, 204);
    const entries = (await t.http.get('/api/ops/audit').query({ action: 'queue_ui.promote', actor: 'mallory-url' }).set(auth)).body.data;
    assert.deepEqual(entries, []);
  });

  it('redirects only to fixed paths on this host, whatever ../ and // the path holds (raw client, no normalising)', async () => {
    const paths = [
      '/ops/queues/../..//evil.example/x',
      '/ops/queues/..//evil.example/x',
      '/ops/queues//evil.example/x',
      '//evil.example/../ops/queues',
      '/ops/queues/static/..//..//evil.example/x',
      '/ops/queues/static//evil.example/..',
      '/ops/queues/login/..//evil.example',
      '/ops/queues?token=x&next=//evil.example/x',
      '/ops/queues/%2e%2e/%2e%2e//evil.example/x',
      '/ops/queues/\\evil.example/x',
    ];
    for (const path of paths) {
      for (const headers of [{}, { Cookie: jar }, { Accept: 'text/html' }, { Cookie: jar, Accept: 'text/html' }] as Record<string, string>[]) {
        for (const method of ['GET', 'POST']) {
          const res = await sendRaw(t.baseUrl, { method, path, headers: { ...headers, Origin: t.baseUrl } });
          const location = res.headers.location;
          if (location === undefined) continue;
          // A path on this host (serve-static adds a '/' to a directory's path as asked): never `//host` or another origin.
          assert.match(location, /^\/[^/\\]/, `${method} ${path} ${JSON.stringify(headers)} → ${location}`);
          assert.equal(new URL(location, t.baseUrl).origin, t.baseUrl, `${method} ${path} → ${location}`);
        }
      }
    }
    const login = await sendRaw(t.baseUrl, {
      method: 'POST',
      path: '/ops/queues/login/../..//evil.example/x',
      headers: { Origin: t.baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${encodeURIComponent(operator.token)}`,
    });
    assert.ok(login.headers.location === undefined || login.headers.location === '/ops/queues/', String(login.headers.location));
  });
});

describe('queue UI origin check behind a TLS proxy', () => {
  let t: TestService;
  let operator: { id: string; token: string };
  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui_origin_proxy'), ROLE: 'api', TRUST_PROXY: '1' });
    operator = await createToken(t, 'operator');
  });
  after(() => t?.stop());

  it('compares with the scheme the proxy reports and the Host the browser asked for', async () => {
    const signIn = (headers: Record<string, string>) => t.http.post('/ops/queues/login').set(headers).type('form').send({ token: operator.token });
    const viaProxy = await signIn({ Host: 'billed.example', 'X-Forwarded-Proto': 'https', Origin: 'https://billed.example' });
    assert.equal(viaProxy.status, 303, viaProxy.text);
    assert.match(String(viaProxy.headers['set-cookie']), /; Secure/);
    // The page was served over https: an http Origin for it is another origin.
    const downgraded = await signIn({ Host: 'billed.example', 'X-Forwarded-Proto': 'https', Origin: 'http://billed.example' });
    assert.equal(downgraded.status, 403);
    assert.equal(downgraded.body.error.code, 'origin_mismatch');
    assert.equal(downgraded.body.error.expectedOrigin, 'https://billed.example');
    const otherHost = await signIn({ Host: 'billed.example', 'X-Forwarded-Proto': 'https', Origin: 'https://ops.billed.example' });
    assert.equal(otherHost.status, 403);
  });
});

describe('queue UI origin check without TRUST_PROXY', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui_origin_noproxy'), ROLE: 'api' });
  });
  after(() => t?.stop());

  it("does not believe a client's X-Forwarded-Proto: an https Origin for a plain-http request is refused, naming TRUST_PROXY", async () => {
    const operator = await createToken(t, 'operator');
    const res = await t.http
      .post('/ops/queues/login')
      .set({ Host: 'billed.example', 'X-Forwarded-Proto': 'https', Origin: 'https://billed.example' })
      .type('form')
      .send({ token: operator.token });
    assert.equal(res.status, 403);
    assert.equal(res.body.error.code, 'origin_mismatch');
    assert.equal(res.body.error.expectedOrigin, 'http://billed.example');
    assert.match(res.body.error.message, /TRUST_PROXY/);
  });
});
