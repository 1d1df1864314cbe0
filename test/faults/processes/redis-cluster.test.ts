import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { redisTarget } from '../../../config/redis-url.js';
import { createRedisClient, type RedisClient } from '../../../src/redis/connections.js';
import { keySlot } from '../../../src/redis/key-slot.js';
import { createQueueLayout, type QueueLayout } from '../../../src/redis/queue-layout.js';
import { eventsOfJob, type AnyEventJobData } from '../../../src/events/event-queue.js';
import { trackDatabase, uniqueDatabaseUrl } from '../../helpers/test-database.js';
import { ServiceProcesses } from '../../helpers/service-process.js';
import { PrivateRedisCluster } from '../../helpers/private-redis-cluster.js';
import { createBurst, Inbox, roundRobin, Sender, serviceEnv, type Burst } from '../../helpers/payment-burst.js';
import { waitFor } from '../../helpers/wait-for.js';

const run = promisify(execFile);
const SHARDS = 4;
/** 2,000 payment events: 200 invoices, each paid by 5 card payments told twice (payment_intent.succeeded and charge.succeeded). */
const BURST = { invoiceCount: 200, paymentsPerInvoice: 5 };

/**
 * The service on a real Redis Cluster: three masters with a replica each (six redis-server
 * processes of the test's own, on free ports, in a temporary directory), two API and two worker
 * processes on it with the event queue in four shards. The cluster and every process are
 * stopped, and the directory removed, in the after hooks, pass or fail.
 */
describe('fault: a Redis Cluster (3 masters, 3 replicas) under two APIs and two workers, QUEUE_SHARDS=4', function () {
  this.timeout(240_000);

  let cluster: PrivateRedisCluster | undefined;
  const processes = new ServiceProcesses();
  let inbox: Inbox | undefined;
  let client: RedisClient | undefined;
  let queues: Queue[] = [];

  before(async function () {
    this.timeout(60_000);
    cluster = await PrivateRedisCluster.start(3);
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(processes.describe());
    await processes.killAll();
    await Promise.all(queues.map((queue) => queue.close().catch(() => {})));
    queues = [];
    client?.disconnect();
    client = undefined;
    await inbox?.end();
  });
  after(async () => {
    await cluster?.stop();
  });

  /** Two APIs and two workers on the cluster, a database of their own; the test's own view of the shards. */
  async function startServices(label: string) {
    const databaseUrl = uniqueDatabaseUrl(label);
    trackDatabase(databaseUrl);
    const prefix = `billed-fault-${randomBytes(4).toString('hex')}`;
    const env = serviceEnv(
      { databaseUrl, redisUrl: cluster!.url, prefix },
      // Jobs a failover left marked active come back within seconds (not 30 s) as stalled.
      { QUEUE_SHARDS: String(SHARDS), WORKER_CONCURRENCY: '16', WORKER_LOCK_DURATION_MS: '5000', WORKER_STALLED_INTERVAL_MS: '2000' },
    );
    // The first one creates and migrates the database; the rest start together against it.
    const api1 = await processes.start(`${label}-api-1`, 'api', env);
    const [api2, worker1, worker2] = await Promise.all([
      processes.start(`${label}-api-2`, 'api', env),
      processes.start(`${label}-worker-1`, 'worker', { ...env, LOG_LEVEL: 'debug' }),
      processes.start(`${label}-worker-2`, 'worker', { ...env, LOG_LEVEL: 'debug' }),
    ]);
    inbox = await Inbox.connect(databaseUrl);
    const layout = createQueueLayout({ prefix, shards: SHARDS, cluster: true });
    client = createRedisClient(redisTarget(cluster!.url), { maxRetriesPerRequest: null });
    queues = layout.eventQueues.map((name) => new Queue(name, { connection: client!, prefix: layout.prefixOf(name) }));
    return { api1, api2, worker1, worker2, layout };
  }

  /** The master serving a slot right now, by port. */
  async function masterOfSlot(slot: number): Promise<number> {
    const { stdout } = await run('redis-cli', ['-p', String((await cluster!.masters())[0]), 'cluster', 'slots'], { timeout: 5000 });
    // redis-cli prints each range as: from, to, then the master's ip, port and id, then the replicas'.
    const lines = stdout.split('\n').map((line) => line.trim());
    for (let i = 0; i + 3 < lines.length; i++) {
      const [from, to] = [Number(lines[i]), Number(lines[i + 1])];
      if (/^\d+$/.test(lines[i]!) && /^\d+$/.test(lines[i + 1]!) && lines[i + 2] === '127.0.0.1' && slot >= from && slot <= to) return Number(lines[i + 3]);
    }
    throw new Error(`no master serves slot ${slot}:\n${stdout}`);
  }

  const workDone = (worker: { count(message: string): number }) => worker.count('invoice updated') + worker.count('payment matches no invoice');

  /** Waits for the shards to have no job left to run (a job a failover left active comes back as stalled, then finds its event settled). */
  async function drained(): Promise<void> {
    await waitFor('every shard to be drained', async () => {
      const counts = await Promise.all(queues.map((queue) => queue.getJobCounts('active', 'waiting', 'delayed')));
      return counts.every((c) => Object.values(c).every((n) => n === 0));
    }, 60_000, 200);
  }

  async function checkExactlyOnce(burst: Burst, what: string): Promise<{ retries: number }> {
    await inbox!.waitAllProcessed(burst, 120_000, what);
    return inbox!.assertExactlyOnce(burst);
  }

  it('puts each shard in a slot of its own, spread over the three masters; a burst through both APIs ends with exact totals, both workers taking part', async () => {
    const { api1, api2, worker1, worker2, layout } = await startServices('cluster');
    await assertLayoutOnCluster(layout);
    const burst = await createBurst(api1.baseUrl, BURST);
    assert.equal(burst.events.length, 2000);
    const startedAt = Date.now();
    const sender = new Sender(burst.events, roundRobin(() => [api1.baseUrl, api2.baseUrl]), { concurrency: 16 });
    await sender.finished;
    assert.deepEqual(sender.statusCounts(), { 200: burst.events.length });
    const { retries } = await checkExactlyOnce(burst, 'every event of the burst to be processed');
    const drainedMs = Date.now() - startedAt;
    await drained();
    // Events per shard, whether they ran in batch jobs or in jobs of their own.
    const perShard = await Promise.all(
      queues.map(async (queue) => (await queue.getJobs(['completed'])).reduce((sum, job) => sum + eventsOfJob(job.data as AnyEventJobData).length, 0)),
    );
    assert.ok(perShard.every((n) => n > 200), `every shard ran its share of the burst: ${perShard}`);
    const [w1, w2] = [workDone(worker1), workDone(worker2)];
    assert.ok(w1 > 0 && w2 > 0, `both workers did work (${w1}, ${w2})`);
    for (const api of [api1, api2]) assert.equal((await fetch(`${api.baseUrl}/readyz`)).status, 200);
    console.log(`      cluster, ${SHARDS} shards: ${burst.events.length} events processed ${drainedMs} ms after the first delivery; events per shard ${perShard.join('/')}; worker-1 applied ${w1}, worker-2 ${w2}; ${retries} retried tries`);
  });

  it('kill -9 of a master mid-burst: its replica takes over, every delivery is answered 200, and nothing is lost or applied twice', async () => {
    const { api1, api2, layout } = await startServices('failover');
    const burst = await createBurst(api1.baseUrl, BURST);
    // Paced (about 8 s), so the kill lands while events are arriving and being processed.
    const sender = new Sender(burst.events, roundRobin(() => [api1.baseUrl, api2.baseUrl]), { concurrency: 16, ratePerSecond: 250 });
    await waitFor('the workers to be processing the burst', async () => sender.done >= 600 && (await inbox!.processedCount()) >= 200, 60_000, 20);

    // The master of the busiest shard's slot: two shards live on one master of the three.
    const victim = await masterOfSlot(keySlot(layout.prefixOf(layout.eventQueues[1]!)));
    const replicasBefore = await cluster!.roles();
    const killedAt = Date.now();
    const atKill = { sent: sender.done, processed: await inbox!.processedCount() };
    await cluster!.kill(victim);
    await cluster!.waitHealthy(60_000, false);
    const failoverMs = Date.now() - killedAt;
    const masters = await cluster!.masters();
    assert.ok(!masters.includes(victim), 'the killed master is gone');
    assert.equal(masters.length, 3, 'a replica took its place');
    assert.ok(masters.some((port) => replicasBefore.get(port) === 'slave'), 'one of the former replicas is a master now');

    await sender.finished;
    assert.deepEqual(sender.statusCounts(), { 200: burst.events.length }, 'every delivery stored and answered 200 through the failover');
    const slowest = Math.max(...[...sender.results.values()].flat().map((r) => r.ms));
    const { retries } = await checkExactlyOnce(burst, 'every event to be processed after the failover');
    const recoveredMs = Date.now() - killedAt;
    await drained();
    for (const api of [api1, api2]) assert.equal((await fetch(`${api.baseUrl}/readyz`)).status, 200, 'ready again on the new master');
    const relayed = api1.count('relay re-enqueued stored events') + api2.count('relay re-enqueued stored events');
    console.log(
      `      failover: master :${victim} killed at ${atKill.sent} sent / ${atKill.processed} processed; replica took over in ${failoverMs} ms; ` +
        `all ${burst.events.length} processed ${recoveredMs} ms after the kill; slowest answer ${slowest} ms; ${retries} retried tries; relay passes that re-enqueued: ${relayed}`,
    );
  });

  /** The slots the service's keys are in, as the cluster itself computes them (CLUSTER KEYSLOT), and which master serves each. */
  async function assertLayoutOnCluster(layout: QueueLayout): Promise<void> {
    const port = String((await cluster!.masters())[0]);
    const mastersOfShards = new Set<number>();
    for (const queue of layout.eventQueues) {
      const prefix = layout.prefixOf(queue);
      const slots = await Promise.all(['wait', 'meta', 'evt_1Abc:lock'].map(async (suffix) => Number((await run('redis-cli', ['-p', port, 'cluster', 'keyslot', `${prefix}:${queue}:${suffix}`])).stdout.trim())));
      assert.deepEqual(new Set(slots), new Set([keySlot(prefix)]), `${queue}: all keys in the slot computed here`);
      mastersOfShards.add(await masterOfSlot(slots[0]!));
    }
    assert.equal(mastersOfShards.size, 3, 'the four shards are served by all three masters');
  }
});

describe('fault: a Redis Cluster over TLS (rediss+cluster://)', function () {
  this.timeout(120_000);

  let cluster: PrivateRedisCluster | undefined;
  const processes = new ServiceProcesses();
  let inbox: Inbox | undefined;

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(processes.describe());
    await processes.killAll();
    await inbox?.end();
    await cluster?.stop();
  });

  it('runs the service on a cluster that speaks TLS only, trusting its CA: a burst ends with exact totals', async () => {
    cluster = await PrivateRedisCluster.start(3, { tls: true });
    assert.match(cluster.url, /^rediss\+cluster:\/\//);
    const databaseUrl = uniqueDatabaseUrl('clustertls');
    trackDatabase(databaseUrl);
    const env = serviceEnv(
      { databaseUrl, redisUrl: cluster.url, prefix: `billed-fault-${randomBytes(4).toString('hex')}` },
      // The nodes' certificate comes from the test's own CA: Node trusts it through NODE_EXTRA_CA_CERTS.
      { QUEUE_SHARDS: '3', NODE_EXTRA_CA_CERTS: cluster.caFile },
    );
    const service = await processes.start('tls-all', 'all', env);
    inbox = await Inbox.connect(databaseUrl);
    const burst = await createBurst(service.baseUrl, { invoiceCount: 20, paymentsPerInvoice: 5 });
    const sender = new Sender(burst.events, () => service.baseUrl, { concurrency: 8 });
    await sender.finished;
    assert.deepEqual(sender.statusCounts(), { 200: burst.events.length });
    await inbox.waitAllProcessed(burst, 60_000);
    await inbox.assertExactlyOnce(burst);
    assert.equal((await fetch(`${service.baseUrl}/readyz`)).status, 200);
    assert.equal(service.count('enqueue failed; the relay will retry'), 0, 'every queue add went through over TLS');
  });
});
