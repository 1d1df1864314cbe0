import assert from 'node:assert/strict';
import type { TestService } from '../helpers/test-service.js';
import { startFaultTestService } from '../helpers/fault-test-service.js';
import { signedDelivery, stripeEvent } from '../helpers/stripe-events.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { waitFor } from '../helpers/wait-for.js';

/** ioredis reconnects at most every 2 s, then the relay (every 200 ms) and the worker catch up. */
const RECOVERY_MS = 15_000;

describe('when Redis is down', function () {
  this.timeout(30_000);

  // Each test runs its own redis-server (never the shared one on 6379) and its own service.
  let redis: PrivateRedis | undefined;
  let t: TestService | undefined;

  afterEach(async function () {
    this.timeout(20_000);
    const failed = this.currentTest?.state !== 'passed';
    try {
      // A request a failed test left hanging must not keep the server open.
      t?.service.server?.closeAllConnections();
      // The service closes its queue and worker against Redis, and the helper deletes its keys
      // there: bring the private Redis back first, so stopping never waits on a dead server.
      if (t && redis && !redis.running) await redis.start();
      // A test that failed mid-outage can leave the worker's blocking connection reconnecting,
      // and a graceful Worker.close() then never resolves (BullMQ issue #4656): force it.
      if (failed) await t?.service.worker?.close(true);
      await t?.stop();
    } finally {
      t = undefined;
      await redis?.kill();
      redis = undefined;
    }
  });

  const postEvent = async (service: TestService) => {
    // A type with no handler: once the worker sees it, it is settled as ignored/unhandled_type
    // (the status machinery alone, whatever the billing handlers do).
    const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const payload = JSON.stringify(event);
    const startedAt = Date.now();
    const res = await service.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
    return { event, res, elapsedMs: Date.now() - startedAt };
  };

  /** The service's lines about Redis being unreachable or back (the outage log names REDIS_URL). */
  const redisLines = (service: TestService) =>
    service.logs.map((line) => JSON.parse(line) as { level: string; message: string }).filter((line) => line.message.startsWith('REDIS_URL:'));

  const eventRow = async (service: TestService, id: string) =>
    (await service.query<{ status: string; reason: string | null }>('SELECT status, reason FROM stripe_events WHERE id = ?', [id]))[0];

  it('answers 200 within a second for a stored event, and processes it once Redis is back', async () => {
    redis = await PrivateRedis.onFreePort();
    await redis.start();
    const service = (t = await startFaultTestService({ REDIS_URL: redis.url }));
    await waitFor('the service to see Redis', async () => (await service.http.get('/readyz')).body.redis === 'ok');

    await redis.kill();
    const { event, res, elapsedMs } = await postEvent(service);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: true, duplicate: false });
    assert.ok(elapsedMs < 1000, `answered in ${elapsedMs} ms: the webhook must not wait on Redis`);
    assert.deepEqual({ ...(await eventRow(service, event.id)) }, { status: 'received', reason: null }, 'stored, not yet processed');
    await waitFor('the outage to be logged, naming REDIS_URL and the address', () =>
      redisLines(service).some((line) => line.level === 'error' && line.message.startsWith(`REDIS_URL: cannot reach Redis at 127.0.0.1:${redis!.port} (`)),
    );

    // Back empty (no persistence): the job was never added, so only the relay can bring the event to the worker.
    await redis.start();
    const row = await waitFor(
      'the relay and the worker to settle the event',
      async () => {
        const current = await eventRow(service, event.id);
        return current?.status === 'ignored' ? current : undefined;
      },
      RECOVERY_MS,
      100,
    );
    assert.equal(row.reason, 'unhandled_type');
    await waitFor('the recovery to be logged', () => redisLines(service).some((line) => line.message.startsWith(`REDIS_URL: Redis at 127.0.0.1:${redis!.port} is reachable again`)));
    assert.deepEqual(
      redisLines(service).map((line) => line.level),
      ['error', 'info'],
      'one line when it went, one when it came back (the outage was shorter than the interval)',
    );
  });

  it('answers 200 for a stored event when the service started with Redis already down, and processes it once Redis comes up', async () => {
    redis = await PrivateRedis.onFreePort(); // nothing listens there yet
    const service = (t = await startFaultTestService({ REDIS_URL: redis.url }));

    const { event, res, elapsedMs } = await postEvent(service);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: true, duplicate: false });
    assert.ok(elapsedMs < 1000, `answered in ${elapsedMs} ms: the webhook must not wait on Redis`);
    assert.equal((await eventRow(service, event.id))?.status, 'received');

    await redis.start();
    const row = await waitFor(
      'the relay and the worker to settle the event',
      async () => {
        const current = await eventRow(service, event.id);
        return current?.status === 'ignored' ? current : undefined;
      },
      RECOVERY_MS,
      100,
    );
    assert.equal(row.reason, 'unhandled_type');
  });
});
