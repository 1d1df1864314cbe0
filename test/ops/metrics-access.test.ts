import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { deliver, settled } from '../helpers/billing-client.js';
import { stripeEvent } from '../helpers/stripe-events.js';
import { SUBSCRIBED_EVENT_TYPES } from '../../src/events/subscribed-events.js';

/** The `type` label values of billed_job_duration_seconds in a /metrics text. */
const jobTypeLabels = (text: string) => new Set([...text.matchAll(/^billed_job_duration_seconds_count\{[^}]*type="([^"]*)"/gm)].map((m) => m[1]!));

describe('GET /metrics', function () {
  this.timeout(120_000);

  describe('event types as label values', () => {
    let t: TestService;
    before(async () => {
      t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('metrics_labels') });
    });
    after(() => t.stop());

    it('100 signed events of distinct random types make at most one label value beyond the subscribed types: other', async () => {
      const events = Array.from({ length: 100 }, () => stripeEvent({ type: `evil.${randomBytes(6).toString('hex')}`, resource: 'charge' }));
      for (const event of events) await deliver(t, event);
      for (const event of events) assert.equal((await settled(t, event.id, 30_000)).status, 'ignored');

      const labels = jobTypeLabels((await t.http.get('/metrics')).text);
      assert.ok(labels.has('other'), 'the unknown types are counted as other');
      const eventLabels = [...labels].filter((label) => label !== 'payout.items');
      assert.ok(eventLabels.length <= SUBSCRIBED_EVENT_TYPES.length + 1, `${eventLabels.length} label values`);
      assert.deepEqual(eventLabels.filter((label) => label !== 'other' && !SUBSCRIBED_EVENT_TYPES.includes(label)), []);
    });
  });

  describe('with METRICS_TOKEN set', () => {
    const token = `metrics-${randomBytes(12).toString('hex')}`;
    let t: TestService;
    before(async () => {
      t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('metrics_token'), ROLE: 'api', METRICS_TOKEN: token });
    });
    after(() => t.stop());

    it('answers 401 without a token and with a wrong one, 200 with Authorization: Bearer <METRICS_TOKEN>', async () => {
      const without = await t.http.get('/metrics');
      assert.equal(without.status, 401);
      assert.equal(without.body.error.code, 'unauthorized');
      assert.doesNotMatch(without.text, /billed_/);
      assert.equal((await t.http.get('/metrics').set('Authorization', `Bearer ${token}x`)).status, 401);
      assert.equal((await t.http.get('/metrics').set('Authorization', 'Bearer short')).status, 401);
      const ok = await t.http.get('/metrics').set('Authorization', `Bearer ${token}`);
      assert.equal(ok.status, 200);
      assert.match(ok.text, /billed_webhooks_received_total/);
    });

    it('keeps /healthz and /readyz open', async () => {
      assert.equal((await t.http.get('/healthz')).status, 200);
    });
  });

  describe('without METRICS_TOKEN', () => {
    let t: TestService;
    before(async () => {
      t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('metrics_open'), ROLE: 'api' });
    });
    after(() => t.stop());

    it('is open, as before', async () => {
      const res = await t.http.get('/metrics');
      assert.equal(res.status, 200);
      assert.match(res.text, /billed_webhooks_received_total/);
    });
  });
});
