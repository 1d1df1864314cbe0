import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { auth } from '../helpers/billing-client.js';
import { signedDelivery, stripeEvent } from '../helpers/stripe-events.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Issue 18: a webhook to an account without a signing secret logged an error line per request
 * (Stripe retries for days; a flood is 2,000 lines a second). A failure with a known cause is
 * logged once per interval per cause, then a line with the count of the others.
 */
const INTERVAL_MS = 1500;

interface LogLine {
  level: string;
  message: string;
  code?: string;
  cause?: string;
  suppressed?: number;
}

describe('a request failing for a known cause is logged once per interval, not once per request', function () {
  this.timeout(30_000);
  let t: TestService;
  before(async () => {
    // No STRIPE_WEBHOOK_SECRET: every delivery to the default endpoint is 503 webhook_not_configured.
    t = await startTestService({ STRIPE_WEBHOOK_SECRET: '', FAILURE_LOG_INTERVAL_MS: String(INTERVAL_MS) });
  });
  after(() => t.stop());

  const failureLines = (from: number) =>
    t.logs
      .slice(from)
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.message === 'request failed');

  const deliverMany = async (path: string, count: number) => {
    const payload = JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' }));
    const { headers } = signedDelivery(payload);
    const answers = await Promise.all(Array.from({ length: count }, () => t.http.post(path).set(headers).send(payload)));
    for (const res of answers) assert.deepEqual([res.status, res.body.error?.code], [503, 'webhook_not_configured']);
  };

  it('50 deliveries without a signing secret, to the default endpoint and to a merchant: one line per cause, then the count of the other 49', async () => {
    const account = await t.http.post('/api/accounts').set(auth).send({ name: 'No secret yet' });
    assert.equal(account.status, 201, account.text);
    const from = t.logs.length;
    await Promise.all([deliverMany('/webhooks/stripe', 50), deliverMany(`/webhooks/stripe/${String(account.body.id)}`, 50)]);

    const first = failureLines(from);
    assert.equal(first.length, 2, `one line per cause:\n${first.map((l) => JSON.stringify(l)).join('\n')}`);
    assert.deepEqual(first.map((l) => [l.level, l.code, l.suppressed]), [
      ['error', 'webhook_not_configured', 0],
      ['error', 'webhook_not_configured', 0],
    ]);
    assert.ok(first.some((l) => l.cause?.includes('STRIPE_WEBHOOK_SECRET')));
    assert.ok(first.some((l) => l.cause?.includes(String(account.body.id))));

    // After the interval: the count of what was held back, per cause.
    const counted = await waitFor('the count lines', () => {
      const lines = failureLines(from);
      return lines.length >= 4 ? lines.slice(2) : undefined;
    }, INTERVAL_MS * 4);
    assert.deepEqual(counted.map((l) => l.suppressed), [49, 49]);
  });

  it('an unexpected error (a bug) is still logged every time', async () => {
    // The one error mapper: anything that is not an AppError is a 500 with its own line. No route
    // throws one on purpose, so this is the mapper itself, through the app's error handler.
    const { errorAnswer } = await import('../../src/http/error.middleware.js');
    const lines: unknown[] = [];
    const logs = {
      logger: { error: (...args: unknown[]) => lines.push(args) } as never,
      expectedFailures: Object.assign(() => assert.fail('not an expected failure'), { flush: () => undefined }),
    };
    for (let i = 0; i < 3; i += 1) assert.equal(errorAnswer(new TypeError('x.indexOf is not a function'), logs).status, 500);
    assert.equal(lines.length, 3);
  });
});
