import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { deliver, settled } from '../helpers/billing-client.js';
import { stripeEvent } from '../helpers/stripe-events.js';
import { disputeStatusMoves, paymentIntentStatusMoves, payoutStatusMoves, refundStatusMoves } from '../../src/billing/status-order.js';

/**
 * Issue 18: lookups by a name that came from outside used plain objects, which also "have"
 * Object.prototype's properties. GET /dashboard/constructor answered 500 and logged an error per
 * request; an event of type `constructor` found Object() as its handler.
 */
const INHERITED = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

describe('lookups by names from requests and events find own entries only', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  const errorLines = (from: number) =>
    t.logs
      .slice(from)
      .map((line) => JSON.parse(line) as { level: string; message: string })
      .filter((line) => line.level === 'error');

  for (const name of INHERITED) {
    it(`GET /dashboard/${name} is 404 not_found, with no error logged`, async () => {
      const from = t.logs.length;
      const res = await t.http.get(`/dashboard/${name}`);
      assert.equal(res.status, 404, res.text);
      assert.equal(res.body.error.code, 'not_found');
      assert.deepEqual(errorLines(from), []);
    });
  }

  it('the dashboard still serves its own files', async () => {
    const script = await t.http.get('/dashboard/dashboard.js');
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    const styles = await t.http.get('/dashboard/dashboard.css');
    assert.equal(styles.status, 200);
    assert.match(String(styles.headers['content-type']), /^text\/css/);
  });

  // Event types are lower case ([a-z0-9_.]): these two are the Object.prototype names a signed event can carry.
  for (const type of ['constructor', '__proto__']) {
    it(`a signed event of type ${type} is stored and ignored as unhandled_type (no handler runs, nothing fails)`, async () => {
      const from = t.logs.length;
      const event = stripeEvent({ type, resource: 'charge' });
      await deliver(t, event);
      const row = await settled(t, event.id);
      assert.deepEqual([row.status, row.reason, row.last_error], ['ignored', 'unhandled_type', null]);
      assert.deepEqual(errorLines(from), []);
    });
  }

  it('a stored status named like an Object.prototype property ranks as an unknown status, not as a function', () => {
    // A signed payload carries the statuses; a stored "constructor" must not freeze the object's status for good.
    const stored = { status: 'constructor', eventCreated: 100 };
    const later = (status: string) => ({ status, eventCreated: 200 });
    assert.equal(disputeStatusMoves(stored, later('won')), true);
    assert.equal(refundStatusMoves(stored, later('succeeded')), true);
    assert.equal(payoutStatusMoves(stored, later('paid')), true);
    assert.equal(paymentIntentStatusMoves(stored, later('succeeded')), true);
    assert.equal(disputeStatusMoves({ status: 'won', eventCreated: 100 }, later('toString')), false);
  });
});
