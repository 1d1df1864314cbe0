import assert from 'node:assert/strict';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from './helpers/test-service.js';
import { signedDelivery, stripeEvent } from './helpers/stripe-events.js';
import { waitFor } from './helpers/wait-for.js';

describe('GET /api/ops/events/:eventId', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('answers 401 unauthorized without a bearer token, and with a wrong one', async () => {
    const none = await t.http.get('/api/ops/events/evt_x');
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthorized');
    const wrong = await t.http.get('/api/ops/events/evt_x').set('Authorization', 'Bearer not-the-admin-token');
    assert.equal(wrong.status, 401);
  });

  it('shows the processing record and the raw payload of a stored event to the admin', async () => {
    const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const payload = JSON.stringify(event);
    await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload).expect(200);
    const res = await waitFor('the event to be settled', async () => {
      const r = await t.http.get(`/api/ops/events/${event.id}`).set('Authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
      return r.body.status === 'ignored' ? r : undefined;
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.id, event.id);
    assert.equal(res.body.type, 'customer.created');
    assert.equal(res.body.reason, 'unhandled_type');
    assert.equal(res.body.attempts, 1);
    assert.equal(res.body.lastError, null);
    assert.deepEqual(res.body.payload, event);
    assert.ok(Date.parse(res.body.receivedAt) <= Date.parse(res.body.processedAt));
  });

  it('answers 404 event_not_found for an id that was never stored', async () => {
    const res = await t.http.get('/api/ops/events/evt_never').set('Authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'event_not_found');
  });
});
