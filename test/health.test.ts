import assert from 'node:assert/strict';
import { startTestService, type TestService } from './helpers/test-service.js';
import { signedDelivery, stripeEvent } from './helpers/stripe-events.js';
import { waitFor } from './helpers/wait-for.js';
import express from 'express';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import supertest from 'supertest';
import { createDataSource } from '../src/db/data-source.js';
import { healthRouter } from '../src/http/health.route.js';
import { REDIS_URL, TEST_DATABASE_URL } from './helpers/test-database.js';

describe('health and metrics', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('GET /healthz answers 200 while the process is up', async () => {
    const res = await t.http.get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  it('GET /readyz answers 200 when MySQL and Redis both answer', async () => {
    const res = await t.http.get('/readyz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ready', mysql: 'ok', redis: 'ok' });
  });

  it('GET /readyz asked while Redis is still connecting waits for it, instead of answering 503 at once', async () => {
    const dataSource = createDataSource(TEST_DATABASE_URL);
    await dataSource.initialize();
    // Like the producer connection: no offline queue, so a ping before the connection is up fails at once.
    const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, lazyConnect: true });
    try {
      const app = express().use(healthRouter({ dataSource, redis, registry: new Registry() }));
      const answer = supertest(app).get('/readyz').then((r) => r);
      setTimeout(() => void redis.connect(), 100);
      const res = await answer;
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'ready', mysql: 'ok', redis: 'ok' });
    } finally {
      redis.disconnect();
      await dataSource.destroy();
    }
  });

  it('GET /metrics counts webhooks by outcome and shows the queue depth in Prometheus text', async () => {
    const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const payload = JSON.stringify(event);
    await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload).expect(200);
    await t.http.post('/webhooks/stripe').set({ 'content-type': 'application/json' }).send(payload).expect(400);
    await waitFor('the event to be processed', async () => {
      const [row] = await t.query<{ status: string }>('SELECT status FROM stripe_events WHERE id = ?', [event.id]);
      return row?.status === 'ignored';
    });
    // The worker records the job's duration after its transaction commits, so the metric may trail the row.
    // customer.created is not a subscribed type: it is counted as other, not as a label value of its own.
    const res = await waitFor('the job duration to be recorded', async () => {
      const r = await t.http.get('/metrics');
      return r.text.includes('billed_job_duration_seconds_count{type="other",outcome="ignored"} 1') ? r : undefined;
    });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /text\/plain/);
    assert.match(res.text, /billed_webhooks_received_total\{outcome="stored"\} 1/);
    assert.match(res.text, /billed_webhooks_received_total\{outcome="signature_invalid"\} 1/);
    assert.match(res.text, /billed_queue_jobs\{state="waiting"\} \d+/);
    assert.match(res.text, /billed_job_duration_seconds_count\{type="other",outcome="ignored"\} 1/);
  });

  it('answers an unknown route with 404 not_found in the error format', async () => {
    const res = await t.http.get('/nope');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'not_found');
  });

  it('echoes a request id on every answer', async () => {
    const res = await t.http.get('/healthz').set('X-Request-Id', 'abc-123');
    assert.equal(res.headers['x-request-id'], 'abc-123');
  });
});
