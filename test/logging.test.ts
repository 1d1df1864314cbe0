import assert from 'node:assert/strict';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { runWithContext } from '../src/shared/context.js';
import { startTestService, TEST_ADMIN_TOKEN } from './helpers/test-service.js';
import { signedDelivery, stripeEvent, TEST_WEBHOOK_SECRET } from './helpers/stripe-events.js';
import { waitFor } from './helpers/wait-for.js';

describe('logs', () => {
  it('are JSON lines carrying the request or event id of their context', () => {
    const { logger, lines } = createMemoryLogger();
    runWithContext({ eventId: 'evt_123', jobId: 'evt_123' }, () => logger.info('invoice paid', { invoiceId: 'inv_1' }));
    const line = JSON.parse(lines[0]!);
    assert.equal(line.message, 'invoice paid');
    assert.equal(line.eventId, 'evt_123');
    assert.equal(line.invoiceId, 'inv_1');
  });

  it('below the level are dropped before they are formatted: a debug line per event costs no serialisation at info', () => {
    const { logger, lines } = createMemoryLogger('info');
    let serialised = 0;
    logger.debug('invoice updated', { detail: { toJSON: () => ((serialised += 1), 'x') } });
    logger.info('kept', { detail: { toJSON: () => ((serialised += 1), 'y') } });
    assert.equal(serialised, 1);
    assert.deepEqual(
      lines.map((line) => JSON.parse(line).message),
      ['kept'],
    );
  });

  it('never contain a Stripe key, signing secret or bearer token, wherever it is passed', () => {
    const { logger, lines } = createMemoryLogger();
    const secrets = ['sk_live_fakeLOG0001', 'rk_test_51Hqrstuvwxyz012345', 'whsec_0123456789abcdef', 'sk_test_abcdef0123456789'];
    logger.info(`pasted ${secrets[0]}`, { key: secrets[1], nested: { secret: secrets[2] } });
    logger.warn('header', { authorization: 'Bearer my-very-secret-token', error: new Error(`bad key ${secrets[3]}`).message });
    const text = lines.join('\n');
    for (const secret of [...secrets, 'my-very-secret-token']) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    assert.match(text, /sk_live_\[redacted\]/);
  });

  it('written while the service handles webhooks and ops calls contain none of its secrets', async () => {
    const t = await startTestService({ STRIPE_SECRET_KEY: 'sk_test_billedsecretkey0123456789' });
    try {
      const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
      const payload = JSON.stringify(event);
      await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload).expect(200);
      await t.http.post('/webhooks/stripe').set(signedDelivery(payload, 'whsec_wrong_secret_123').headers).send(payload).expect(400);
      await waitFor('the event to be settled', async () => {
        const r = await t.http.get(`/api/ops/events/${event.id}`).set('Authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
        return r.body.status === 'ignored';
      });
      const text = t.logs.join('\n');
      assert.ok(t.logs.length > 0);
      for (const secret of [TEST_WEBHOOK_SECRET, 'whsec_wrong_secret_123', TEST_ADMIN_TOKEN, 'sk_test_billedsecretkey0123456789']) {
        assert.ok(!text.includes(secret), `${secret} appears in the logs`);
      }
    } finally {
      await t.stop();
    }
  });

  describe('levels say how bad it is', () => {
    const parsed = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown> & { level: string; message: string });

    it('an event that failed for good is an error, with where it was thrown; a try the queue will retry is a warn', async () => {
      const t = await startTestService(
        { JOB_ATTEMPTS: '2' },
        {
          registry: {
            'customer.created': async () => {
              throw new Error('customer ledger missing');
            },
          },
        },
      );
      try {
        const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
        const payload = JSON.stringify(event);
        await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload).expect(200);
        await waitFor('the event to fail for good', () => parsed(t.logs).some((l) => l.eventId === event.id && l.message === 'event failed; retries exhausted'));
        const lines = parsed(t.logs).filter((l) => l.eventId === event.id && /^event (handler )?failed/.test(l.message));
        assert.deepEqual(
          lines.map((l) => [l.level, l.message, l.attempt]),
          [
            ['warn', 'event handler failed; will retry', 1],
            ['error', 'event failed; retries exhausted', 2],
          ],
        );
        assert.match(String(lines[1]!.thrownAt), /^test\/logging\.test\.ts:\d+$/);
        assert.equal(lines[1]!.error, 'Error: customer ledger missing');
      } finally {
        await t.stop();
      }
    });

    it('a flood of rejected signatures is a few warn lines per account, each with the account, a request id and how many were not logged', async function () {
      this.timeout(60_000);
      const intervalMs = 2000;
      const t = await startTestService({ SIGNATURE_LOG_INTERVAL_MS: String(intervalMs) });
      try {
        const payload = JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' }));
        const started = Date.now();
        let sent = 0;
        // 1,000 forged deliveries, 25 at a time.
        await Promise.all(
          Array.from({ length: 25 }, async () => {
            while (sent < 1000) {
              const n = sent++;
              await t.http.post('/webhooks/stripe').set({ ...signedDelivery(payload, 'whsec_forged_0123456789').headers, 'X-Request-Id': `flood-${n}` }).send(payload).expect(400);
            }
          }),
        );
        const elapsed = Date.now() - started;
        const rejected = () => parsed(t.logs).filter((l) => l.message === 'webhook signature rejected');
        // Every rejection is accounted for once the last interval closes: logged at once (suppressed 0),
        // or counted in a later line (suppressed n: n rejections since the line before, the latest named).
        const accounted = () => rejected().reduce((sum, l) => sum + (l.suppressed === 0 ? 1 : Number(l.suppressed)), 0);
        await waitFor('the last count', () => accounted() === 1000, 10_000);
        const lines = rejected();
        assert.ok(lines.length <= Math.ceil(elapsed / intervalMs) + 2, `${lines.length} lines in ${elapsed} ms`);
        assert.ok(lines.length < 10, `a handful, not ${lines.length}`);
        assert.equal(lines[0]!.suppressed, 0, 'the first is logged at once');
        assert.ok(lines.slice(1).every((l) => Number(l.suppressed) > 0), 'later lines say how many were not logged');
        for (const line of lines) {
          assert.equal(line.level, 'warn');
          assert.equal(line.account, 'default');
          assert.equal(line.code, 'signature_invalid');
          assert.match(String(line.requestId), /^flood-\d+$/);
          assert.equal(line.intervalSeconds, intervalMs / 1000);
        }
      } finally {
        await t.stop();
      }
    });
  });
});
