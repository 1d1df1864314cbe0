import { waitFor } from '../../helpers/wait-for.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { EVENT_QUEUE_NAME } from '../../../src/events/event-queue.js';
import { REDIS_URL, trackDatabase, uniqueDatabaseUrl } from '../../helpers/test-database.js';
import { deleteKeys } from '../../helpers/test-service.js';
import { ServiceProcesses } from '../../helpers/service-process.js';
import { createBurst, Inbox, postEvent, roundRobin, Sender, serviceEnv } from '../../helpers/payment-burst.js';

/** Of the burst, how many events are also delivered to both APIs at the same moment. */
const DELIVERED_TWICE_AT_ONCE = 100;

describe('fault: two API and two worker processes at once', function () {
  this.timeout(120_000);

  const processes = new ServiceProcesses();
  const databaseUrl = uniqueDatabaseUrl('multi');
  const prefix = `billed-fault-${randomBytes(4).toString('hex')}`;
  let inbox: Inbox | undefined;
  let queueConnection: Redis | undefined;
  let queue: Queue | undefined;

  before(() => trackDatabase(databaseUrl));

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(processes.describe());
    await processes.killAll();
    await queue?.close().catch(() => {});
    queueConnection?.disconnect();
    await inbox?.end();
    await deleteKeys(REDIS_URL, `${prefix}:*`);
  });

  it('all start at once on a database that does not exist yet (docker compose up --scale): each creates or finds it, none crashes', async () => {
    const freshDatabaseUrl = uniqueDatabaseUrl('multistart');
    trackDatabase(freshDatabaseUrl);
    const env = serviceEnv({ databaseUrl: freshDatabaseUrl, redisUrl: REDIS_URL, prefix });
    const started = await Promise.allSettled([
      processes.start('fresh-api-1', 'api', env),
      processes.start('fresh-api-2', 'api', env),
      processes.start('fresh-worker-1', 'worker', env),
      processes.start('fresh-worker-2', 'worker', env),
    ]);
    const failures = started.flatMap((r) => (r.status === 'rejected' ? [String(r.reason).split('\n').slice(0, 4).join(' | ')] : []));
    await processes.killAll();
    assert.deepEqual(failures, [], 'every process started');
  });

  it('stores each event once, applies it once, and ends with exact totals, one database and one queue prefix for all four', async () => {
    const env = serviceEnv({ databaseUrl, redisUrl: REDIS_URL, prefix }, { WORKER_CONCURRENCY: '16' });
    // The first one creates and migrates the database; the rest start together against it.
    const api1 = await processes.start('api-1', 'api', env);
    const [api2, worker1, worker2] = await Promise.all([
      processes.start('api-2', 'api', env),
      // debug: each worker logs every invoice it updates, which is how the test sees both did work.
      processes.start('worker-1', 'worker', { ...env, LOG_LEVEL: 'debug' }),
      processes.start('worker-2', 'worker', { ...env, LOG_LEVEL: 'debug' }),
    ]);
    inbox = await Inbox.connect(databaseUrl);
    queueConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(EVENT_QUEUE_NAME, { connection: queueConnection, prefix });

    const burst = await createBurst(api1.baseUrl, { invoiceCount: 50, paymentsPerInvoice: 10 });
    const twice = burst.events.slice(0, DELIVERED_TWICE_AT_ONCE);
    const once = burst.events.slice(DELIVERED_TWICE_AT_ONCE);
    const startedAt = Date.now();
    // Most events go to one API or the other (a load balancer); some reach both at once (a retry racing the original).
    const sender = new Sender(once, roundRobin(() => [api1.baseUrl, api2.baseUrl]), { concurrency: 16 });
    const raced = await (async () => {
      const pairs: Awaited<ReturnType<typeof postEvent>>[][] = [];
      for (let i = 0; i < twice.length; i += 4) {
        pairs.push(
          ...(await Promise.all(twice.slice(i, i + 4).map((event) => Promise.all([postEvent(api1.baseUrl, event), postEvent(api2.baseUrl, event)])))),
        );
      }
      return pairs;
    })();
    await sender.finished;
    assert.deepEqual(sender.statusCounts(), { 200: once.length });
    const badRaces = raced.filter(([a, b]) => a!.status !== 200 || b!.status !== 200 || a!.duplicate === b!.duplicate);
    assert.deepEqual(badRaces.slice(0, 3), [], 'both deliveries of a raced event get 200, exactly one of them not a duplicate');

    await inbox.waitAllProcessed(burst, 60_000);
    const drainedMs = Date.now() - startedAt;
    // A job leaves `active` a moment after its event's row is committed.
    await waitFor('the queue to be empty', async () => {
      const counts = await queue!.getJobCounts('active', 'waiting', 'delayed', 'failed');
      return Object.values(counts).every((n) => n === 0);
    });
    const { retries } = await inbox.assertExactlyOnce(burst);
    const [w1, w2] = [worker1.count('invoice updated') + worker1.count('payment matches no invoice'), worker2.count('invoice updated') + worker2.count('payment matches no invoice')];
    assert.ok(w1 > 0 && w2 > 0, `both workers did work (${w1}, ${w2})`);
    console.log(
      `      2 APIs + 2 workers: ${burst.events.length} events (${DELIVERED_TWICE_AT_ONCE} sent to both APIs at once) processed ${drainedMs} ms after the first delivery; ` +
        `worker-1 applied ${w1}, worker-2 ${w2}; ${retries} retried tries`,
    );
  });
});
