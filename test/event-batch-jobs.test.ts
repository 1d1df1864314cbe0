import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import type Stripe from 'stripe';
import { createDataSource } from '../src/db/data-source.js';
import { EventPublisher } from '../src/events/event-publisher.js';
import { eventsOfJob, isBatchJob, type AnyEventJobData } from '../src/events/event-queue.js';
import { Ingestor } from '../src/events/ingest.js';
import { createRedisHealth } from '../src/events/redis-health.js';
import { parseEventEnvelope } from '../src/events/stripe-event-envelope.js';
import { eventHandlers } from '../src/events/subscribed-events.js';
import { onPaymentIntent } from '../src/billing/payment-intent.handlers.js';
import { createHandOver } from '../src/events/hand-over.js';
import { queueSetup } from '../src/runtime/core-services.js';
import { createProducerConnection } from '../src/redis/connections.js';
import { createMetrics } from '../src/shared/metrics.js';
import { currentContext } from '../src/shared/context.js';
import { deleteKeys, startTestService, type TestService } from './helpers/test-service.js';
import { REDIS_URL } from './helpers/test-database.js';
import { auth, createInvoice, getInvoice } from './helpers/billing-client.js';
import { paymentEvents } from './helpers/payment-events.js';
import { signedDelivery, stripeEvent, uniqueId } from './helpers/stripe-events.js';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { waitFor } from './helpers/wait-for.js';

type AnyJob = Job<AnyEventJobData>;

/** Which job holds each event: a batch job's id, or the event's own job's id. */
function jobsByEvent(jobs: AnyJob[]): Map<string, string[]> {
  const holders = new Map<string, string[]>();
  const add = (eventId: string, jobId: string) => holders.set(eventId, [...(holders.get(eventId) ?? []), jobId]);
  for (const job of jobs) for (const event of eventsOfJob(job.data)) add(event.eventId, job.id!);
  return holders;
}

/** A publisher on the service's queue layout, as the API's and the catch-up's are, for `work`. */
async function withPublisher<T>(config: TestService['config'], work: (publisher: EventPublisher) => Promise<T>): Promise<T> {
  const logger = createMemoryLogger().logger;
  const redisHealth = createRedisHealth({ redisUrl: config.REDIS_URL, logger, consequence: 'test' });
  const connection = createProducerConnection(queueSetup(config).redis, redisHealth);
  const publisher = new EventPublisher({ connection, redisHealth, layout: queueSetup(config).queues, attempts: 3, backoffMs: 20 });
  try {
    await new Promise((resolve) => (connection.status === 'ready' ? resolve(null) : connection.once('ready', resolve)));
    return await work(publisher);
  } finally {
    await publisher.close();
    connection.disconnect();
  }
}

/** Stores the events with one INSERT, as a burst's group commit or a catch-up page does: one batch job for their shard. */
async function storeAsOneBatch(config: TestService['config'], events: Stripe.Event[]): Promise<void> {
  const dataSource = createDataSource(config.DATABASE_URL, { poolSize: 1 });
  await dataSource.initialize();
  try {
    const stored = await withPublisher(config, (publisher) =>
      new Ingestor({ dataSource, publisher, logger: createMemoryLogger().logger, metrics: createMetrics() }).storeBatch(
        events.map((event) => ({ ...parseEventEnvelope(event), accountId: null, payload: JSON.stringify(event) })),
      ),
    );
    assert.equal(stored.fresh.length, events.length);
  } finally {
    await dataSource.destroy();
  }
}

/** How many of these events are processed. */
const processedCount = async (t: TestService, ids: string[]) =>
  Number((await t.query<{ n: number }>("SELECT COUNT(*) AS n FROM stripe_events WHERE id IN (?) AND status = 'processed'", [ids]))[0]!.n);

/**
 * An API (no worker: jobs wait) on a queue prefix of the suite's own, which the suite's worker
 * services join. The prefix is made by none of the services, so the suite clears it.
 */
function apiOnOwnPrefix() {
  const services = { prefix: `billed-test-${randomBytes(4).toString('hex')}`, api: undefined as unknown as TestService, worker: undefined as TestService | undefined };
  before(async () => {
    services.api = await startTestService({ ROLE: 'api', QUEUE_PREFIX: services.prefix });
  });
  after(async () => {
    await services.worker?.stop();
    await services.api.stop();
    await deleteKeys(REDIS_URL, `${services.prefix}:*`);
  });
  return services;
}

const post = (t: TestService, event: Stripe.Event) => {
  const payload = JSON.stringify(event);
  return t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
};

describe('batch jobs: the events of one inbox INSERT share one BullMQ job', () => {
  // The API alone first: jobs stay waiting, to be read as the INSERTs left them.
  const s = apiOnOwnPrefix();

  it('a burst is queued in batch jobs, each row naming its job; the relay leaves them be; the worker settles each event once', async () => {
    const invoices = await Promise.all(Array.from({ length: 60 }, () => createInvoice(s.api, { amountDue: 1500 })));
    const events = invoices.map((invoice) => paymentEvents({ invoiceId: invoice.id, amount: 1500 }).paymentIntent('payment_intent.succeeded'));
    const answers = await Promise.all(events.map((event) => post(s.api, event)));
    assert.deepEqual(answers.map((res) => res.status), events.map(() => 200));

    const ids = events.map((event) => event.id);
    const rows = await s.api.query<{ id: string; queue_job: string | null }>('SELECT id, queue_job FROM stripe_events WHERE id IN (?)', [ids]);
    // Only the jobs holding these events: the relay may add other tests' events here (they share the database, not this queue).
    const jobs = ((await s.api.queue.getJobs(['waiting'])) as AnyJob[]).filter((job) => [...jobsByEvent([job]).keys()].some((id) => ids.includes(id)));
    const holders = jobsByEvent(jobs);
    for (const row of rows) {
      assert.equal(holders.get(row.id)?.length, 1, `event ${row.id} is in exactly one job`);
      // A batch job's id is on its rows; an event alone has the job named after it, as it always had.
      assert.equal(holders.get(row.id)![0], row.queue_job ?? row.id);
    }
    const batches = jobs.filter((job) => isBatchJob(job.data));
    assert.ok(batches.length > 0, 'concurrent deliveries share an INSERT, and then a job');
    assert.ok(jobs.length < events.length, `${jobs.length} jobs for ${events.length} events`);
    assert.ok(batches.every((job) => job.name === 'events' && job.id!.startsWith('batch-')));

    // The relay (RELAY_AFTER_MS 300 ms here) finds the events still received, but queued in live batch jobs: it adds nothing.
    // (It may add other tests' events: they share the run's database, not this queue.)
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const later = jobsByEvent((await s.api.queue.getJobs(['waiting'])) as AnyJob[]);
    for (const id of ids) assert.deepEqual(later.get(id), holders.get(id), `no other job for ${id} while its job waits`);

    s.worker = await startTestService({ ROLE: 'worker', QUEUE_PREFIX: s.prefix });
    await waitFor(
      'every event to be processed',
      async () => {
        return (await processedCount(s.api, ids)) === ids.length || undefined;
      },
      30_000,
    );
    for (const invoice of invoices) {
      const now = await getInvoice(s.api, invoice.id);
      assert.equal(now.status, 'paid');
      assert.equal(now.amountPaid, 1500, `invoice ${invoice.id} paid once`);
    }
    // One try each, recorded under the job that ran it.
    const history = await s.api.query<{ event_id: string; job_id: string; n: number }>(
      'SELECT event_id, MIN(job_id) AS job_id, COUNT(*) AS n FROM event_attempts WHERE event_id IN (?) GROUP BY event_id',
      [ids],
    );
    const holdersNow = jobsByEvent((await s.api.queue.getJobs(['completed'])) as AnyJob[]);
    for (const row of history) {
      assert.equal(Number(row.n), 1, `event ${row.event_id} tried once`);
      assert.ok(holdersNow.get(row.event_id)?.includes(row.job_id), `event ${row.event_id}'s try names its job`);
    }
    assert.equal(history.length, ids.length);
    const completedBatch = (await s.api.queue.getJobs(['completed'])).find((job) => isBatchJob(job.data as AnyEventJobData))!;
    assert.deepEqual(completedBatch.returnvalue, { settled: (completedBatch.data as { events: unknown[] }).events.length, handedOver: [] });
  });
});

describe('batch jobs: an event the batch cannot settle goes on to a job of its own', () => {
  let t: TestService;
  const calls: string[] = [];

  before(async () => {
    t = await startTestService(
      { JOB_ATTEMPTS: '3' },
      {
        registry: {
          ...eventHandlers,
          // Always fails: the ledger is down for this one.
          'charge.dispute.created': async () => {
            calls.push(currentContext()?.jobId ?? '');
            throw new Error('ledger unavailable');
          },
        },
      },
    );
  });
  after(() => t.stop());

  it('its failed try in the batch is not counted; its own job tries it JOB_ATTEMPTS times and fails it where the queue UI shows it; the rest settle in the batch', async () => {
    const invoices = await Promise.all(Array.from({ length: 5 }, () => createInvoice(t, { amountDue: 700 })));
    const payments = invoices.map((invoice) => paymentEvents({ invoiceId: invoice.id, amount: 700 }).paymentIntent('payment_intent.succeeded'));
    const dispute = stripeEvent({ type: 'charge.dispute.created', resource: 'dispute', object: { id: uniqueId('dp'), charge: uniqueId('ch'), amount: 700, currency: 'usd', status: 'needs_response' } });
    const all = [...payments, dispute];

    // Stored as one INSERT, as a burst's group commit or a catch-up page is: one batch job for the shard.
    await storeAsOneBatch(t.config, all);

    const row = await waitFor('the dispute to fail', async () => {
      const [r] = await t.query<{ status: string; attempts: number; queue_job: string }>('SELECT status, attempts, queue_job FROM stripe_events WHERE id = ?', [dispute.id]);
      return r?.status === 'failed' ? r : undefined;
    });
    assert.match(row.queue_job, /^batch-/, 'it came in the batch job');
    assert.equal(row.attempts, 3, 'three tries, JOB_ATTEMPTS: the one in the batch is not counted');
    const tries = await t.query<{ attempt: number; job_id: string; outcome: string }>('SELECT attempt, job_id, outcome FROM event_attempts WHERE event_id = ? ORDER BY id', [dispute.id]);
    assert.deepEqual(
      tries.map((r) => [r.attempt, r.job_id, r.outcome]),
      [
        [1, dispute.id, 'retrying'],
        [2, dispute.id, 'retrying'],
        [3, dispute.id, 'failed'],
      ],
    );
    // (Its own job's tries may also run once inside a batch transaction with other events, which rolls back uncounted.)
    assert.ok(calls.filter((jobId) => jobId === row.queue_job).length >= 1, 'it ran in the batch job first');
    const own = await t.queue.getJob(dispute.id);
    assert.equal(await own?.getState(), 'failed', 'a failed job under the event’s id, for the queue UI’s Retry');

    const batch = (await t.queue.getJob(row.queue_job))!;
    await waitFor('the batch job to complete', async () => ((await batch.getState()) === 'completed') || undefined);
    const done = (await t.queue.getJob(row.queue_job))!;
    assert.deepEqual(done.returnvalue, { settled: payments.length, handedOver: [dispute.id] });
    for (const invoice of invoices) assert.equal((await getInvoice(t, invoice.id)).amountPaid, 700);
    const paymentTries = await t.query<{ job_id: string }>('SELECT job_id FROM event_attempts WHERE event_id IN (?)', [payments.map((e) => e.id)]);
    assert.deepEqual(paymentTries.map((r) => r.job_id), payments.map(() => row.queue_job), 'each payment tried once, in the batch job');

    // Retry of the batch job in the queue UI replays each of its events (into jobs of their own), each audited.
    const retried = await t.http.put(`/ops/queues/api/queues/stripe-events/${row.queue_job}/retry`).set(auth);
    assert.equal(retried.status, 204, retried.text);
    const audit = (await t.http.get('/api/ops/audit').query({ action: 'queue_ui.retry' }).set(auth)).body.data as { target: string; details: Record<string, unknown> }[];
    const entry = audit.find((a) => a.target === `stripe-events/${row.queue_job}`)!;
    assert.deepEqual(entry.details.eventIds, all.map((e) => e.id));
    assert.equal(entry.details.retried, all.length);
    for (const payment of payments) {
      await waitFor(`${payment.id} run again in its own job`, async () => {
        const tries = await t.query<{ job_id: string }>('SELECT job_id FROM event_attempts WHERE event_id = ? ORDER BY id', [payment.id]);
        return (tries.length === 2 && tries[1]!.job_id === payment.id) || undefined;
      });
    }
    for (const invoice of invoices) assert.equal((await getInvoice(t, invoice.id)).amountPaid, 700, 'a replay applies nothing twice');
  });
});

describe('batch jobs: the relay re-adds the events of a batch job that is gone', () => {
  let t: TestService;
  before(async () => {
    // The API alone, with its relay: no worker takes the jobs.
    t = await startTestService({ ROLE: 'api' });
  });
  after(() => t.stop());

  it('an event whose batch job waits is left to it; one whose batch job is gone goes in a job of its own', async () => {
    await withPublisher(t.config, async (publisher) => {
      const event = (batch: string | null) => ({ id: uniqueId('evt'), type: 'payment_intent.succeeded', accountId: null, queueJob: batch });
      const waiting = [event('batch-waits'), event('batch-waits')];
      const lost = [event('batch-lost'), event('batch-lost')];
      await publisher.publish(waiting);

      // The lost batch job never reached Redis (or Redis lost it): its rows still name it.
      const { submitted } = await publisher.resubmit([...waiting, ...lost]);
      assert.equal(submitted, lost.length, 'the waiting batch job keeps its events');
      const holders = jobsByEvent((await t.queue.getJobs(['waiting'])) as AnyJob[]);
      for (const e of waiting) assert.deepEqual(holders.get(e.id), ['batch-waits']);
      for (const e of lost) assert.deepEqual(holders.get(e.id), [e.id], 'a job of its own, named after it');
    });
  });
});

describe('batch jobs: a stopping worker, Retry all, and events settled meanwhile', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  // A payment handler slow enough for a stop to land in the middle of a batch job.
  const slowPayments = Object.assign(
    async (context: Parameters<typeof onPaymentIntent>[0]) => {
      await sleep(40);
      return onPaymentIntent(context);
    },
    { lockTarget: onPaymentIntent.lockTarget },
  );
  const s = apiOnOwnPrefix();
  /** The events this service's queue has seen (other tests share the database, not the queue). */
  const ours: string[] = [];

  it('a worker that stops mid-batch hands the events it has not started to jobs of their own; the next worker applies each once', async () => {
    const invoices = await Promise.all(Array.from({ length: 40 }, () => createInvoice(s.api, { amountDue: 900 })));
    const events = invoices.map((invoice) => paymentEvents({ invoiceId: invoice.id, amount: 900 }).paymentIntent('payment_intent.succeeded'));
    await storeAsOneBatch(s.api.config, events);
    const batchId = (await s.api.query<{ queue_job: string }>('SELECT queue_job FROM stripe_events WHERE id = ?', [events[0]!.id]))[0]!.queue_job;

    s.worker = await startTestService({ ROLE: 'worker', QUEUE_PREFIX: s.prefix, WORKER_BATCH_SIZE: '2' }, { registry: { ...eventHandlers, 'payment_intent.succeeded': slowPayments } });
    const ids = events.map((event) => event.id);
    const processed = () => processedCount(s.api, ids);
    await waitFor('a few events processed', async () => ((await processed()) >= 4) || undefined);
    const stoppedAt = Date.now();
    await s.worker.stop();
    s.worker = undefined;
    assert.ok(Date.now() - stoppedAt < 5000, 'the stop did not wait for the whole batch');
    const done = (await s.api.queue.getJob(batchId))!;
    assert.equal(await done.getState(), 'completed');
    const { settled, handedOver } = done.returnvalue as { settled: number; handedOver: string[] };
    assert.ok(handedOver.length > 0 && settled + handedOver.length === events.length, `settled ${settled}, handed over ${handedOver.length}`);
    for (const id of handedOver) assert.equal(await s.api.queue.getJobState(id), 'waiting', `${id} waits in a job of its own`);

    s.worker = await startTestService({ ROLE: 'worker', QUEUE_PREFIX: s.prefix });
    await waitFor('every event processed', async () => ((await processed()) === events.length) || undefined, 20_000);
    for (const invoice of invoices) assert.equal((await getInvoice(s.api, invoice.id)).amountPaid, 900);
    const tries = await s.api.query<{ n: number }>('SELECT COUNT(*) AS n FROM event_attempts WHERE event_id IN (?)', [ids]);
    assert.equal(Number(tries[0]!.n), events.length, 'one try each');
  });

  it('Retry all over batch jobs and jobs of their own replays each event once, counts events, and removes the batch jobs', async () => {
    const invoices = await Promise.all(Array.from({ length: 4 }, () => createInvoice(s.api, { amountDue: 500 })));
    const events = invoices.map((invoice) => paymentEvents({ invoiceId: invoice.id, amount: 500 }).paymentIntent('payment_intent.succeeded'));
    await storeAsOneBatch(s.api.config, events.slice(0, 3));
    ours.push(...events.map((event) => event.id));
    const alone = events[3]!;
    const delivered = await post(s.api, alone);
    assert.equal(delivered.status, 200);
    const ids = events.map((event) => event.id);
    const processed = () => processedCount(s.api, ids);
    await waitFor('the four processed', async () => ((await processed()) === 4) || undefined, 20_000);
    const batchId = (await s.api.query<{ queue_job: string }>('SELECT queue_job FROM stripe_events WHERE id = ?', [events[0]!.id]))[0]!.queue_job;

    const before = new Set((await s.api.queue.getJobs(['completed'])).map((job) => job.id));
    const res = await s.api.http.put('/ops/queues/api/queues/stripe-events/retry/completed').set(auth);
    assert.equal(res.status, 200, res.text);
    // Every event of the completed set once (the earlier test's events too: this service's queue), none twice.
    const replays = await s.api.query<{ event_id: string; n: number }>('SELECT event_id, COUNT(*) AS n FROM event_replays WHERE event_id IN (?) GROUP BY event_id', [ours]);
    assert.ok(replays.every((row) => Number(row.n) === 1), `no event replayed twice: ${JSON.stringify(replays.filter((row) => Number(row.n) !== 1))}`);
    for (const id of ids) assert.ok(replays.some((row) => row.event_id === id), `${id} replayed`);
    assert.equal(replays.length, ours.length, 'each event of the set (the earlier test’s batch, partly handed over, included)');
    // Counted in events: ours, and any other test's the relay put on this queue (they share the database).
    assert.ok(res.body.retried >= ours.length, `retried ${res.body.retried}`);
    assert.equal(res.body.skipped, 0);
    assert.ok(before.has(batchId), 'the batch job was in the set');
    assert.equal(await s.api.queue.getJob(batchId), undefined, 'and is removed');
    await waitFor('the replays run', async () => ((await processed()) === 4) || undefined, 20_000);
    for (const invoice of invoices) assert.equal((await getInvoice(s.api, invoice.id)).amountPaid, 500, 'nothing applied twice');
  });

  it('hands over only events still received: one settled meanwhile keeps its finished job', async () => {
    const dataSource = createDataSource(s.api.config.DATABASE_URL, { poolSize: 1 });
    await dataSource.initialize();
    try {
      const open = uniqueId('evt');
      const failed = uniqueId('evt');
      await dataSource.query(
        `INSERT INTO stripe_events (id, account_id, account_scope, type, livemode, stripe_created, payload, ingest_batch, status)
         VALUES (?, NULL, '', 'charge.refunded', 0, 1, '{}', 'test', 'received'), (?, NULL, '', 'charge.refunded', 0, 1, '{}', 'test', 'failed')`,
        [open, failed],
      );
      const handedOver: string[] = [];
      const publisher = { handOver: async (_queue: string, events: { id: string }[]) => void handedOver.push(...events.map((e) => e.id)) } as unknown as EventPublisher;
      await createHandOver({ dataSource, publisher })('stripe-events', [
        { id: open, accountId: null, type: 'charge.refunded' },
        { id: failed, accountId: null, type: 'charge.refunded' },
      ]);
      assert.deepEqual(handedOver, [open]);
    } finally {
      await dataSource.destroy();
    }
  });
});
