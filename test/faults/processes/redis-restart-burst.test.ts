import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { trackDatabase, uniqueDatabaseUrl } from '../../helpers/test-database.js';
import { ServiceProcesses } from '../../helpers/service-process.js';
import { PrivateRedis } from '../../helpers/private-redis.js';
import { createBurst, Inbox, Sender, serviceEnv } from '../../helpers/payment-burst.js';
import { waitFor } from '../../helpers/wait-for.js';

/** How long Redis stays down in the middle of the burst. */
const OUTAGE_MS = 3_000;

describe('fault: Redis stopped and restarted during a burst', function () {
  this.timeout(120_000);

  // A redis-server of the test's own (never the shared one on 6379); killed with SIGKILL and
  // started again empty, as a Redis without persistence comes back: every queued job is gone.
  let redis: PrivateRedis | undefined;
  const processes = new ServiceProcesses();
  const databaseUrl = uniqueDatabaseUrl('redisburst');
  let inbox: Inbox | undefined;

  before(() => trackDatabase(databaseUrl));

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(processes.describe());
    await processes.killAll();
    await inbox?.end();
    await redis?.kill();
  });

  it('answers 200 to every delivery while Redis is down, and processes every event exactly once after it is back', async () => {
    redis = await PrivateRedis.onFreePort();
    await redis.start();
    const env = serviceEnv({ databaseUrl, redisUrl: redis.url, prefix: `billed-fault-${randomBytes(4).toString('hex')}` });
    const api = await processes.start('api', 'api', env);
    const worker = await processes.start('worker', 'worker', env);
    inbox = await Inbox.connect(databaseUrl);

    const burst = await createBurst(api.baseUrl, { invoiceCount: 50, paymentsPerInvoice: 10 });
    // ~5 s of deliveries: Redis goes down in the middle of them, and comes back before the end.
    const sender = new Sender(burst.events, () => api.baseUrl, { concurrency: 8, ratePerSecond: 200 });

    await waitFor('the worker to be processing the burst', async () => sender.done >= 250 && (await inbox!.processedCount()) >= 100, 30_000, 20);
    await redis.kill();
    const atKill = { sent: sender.done, processed: await inbox.processedCount() };
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const duringOutage = sender.done - atKill.sent;
    await redis.start();
    const restartedAt = Date.now();

    await sender.finished;
    assert.deepEqual(sender.statusCounts(), { 200: burst.events.length }, 'every delivery stored and answered 200, Redis or not');
    const slowest = Math.max(...[...sender.results.values()].flat().map((r) => r.ms));
    assert.ok(duringOutage > 100, `deliveries kept coming during the outage (${duringOutage})`);

    await inbox.waitAllProcessed(burst, 60_000, 'the relay and the worker to catch up after Redis came back');
    const recoveredMs = Date.now() - restartedAt;
    const { retries } = await inbox.assertExactlyOnce(burst);
    assert.ok(api.count('relay re-enqueued stored events') > 0, 'the relay put the stored events back on the empty queue');
    console.log(
      `      Redis: killed at ${atKill.sent} sent / ${atKill.processed} processed, ${duringOutage} delivered (200) during the ${OUTAGE_MS} ms outage, ` +
        `slowest answer ${slowest} ms, all processed ${recoveredMs} ms after the restart, ${retries} retried tries, ` +
        `worker lines naming REDIS_URL: ${worker.logLines().filter((line) => String(line.message).startsWith('REDIS_URL:')).length}`,
    );
  });
});
