import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import type Stripe from 'stripe';
import { createDataSource } from '../src/db/data-source.js';
import { EventPublisher } from '../src/events/event-publisher.js';
import { isBatchJob, type AnyEventJobData } from '../src/events/event-queue.js';
import { Ingestor } from '../src/events/ingest.js';
import { createRedisHealth } from '../src/events/redis-health.js';
import { parseEventEnvelope } from '../src/events/stripe-event-envelope.js';
import { eventHandlers } from '../src/events/subscribed-events.js';
import { queueSetup } from '../src/runtime/core-services.js';
import { createProducerConnection } from '../src/redis/connections.js';
import { createMetrics } from '../src/shared/metrics.js';
import { currentContext } from '../src/shared/context.js';
import { startTestService, type TestService } from './helpers/test-service.js';
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
  for (const job of jobs) {
    if (isBatchJob(job.data)) for (const event of job.data.events) add(event.eventId, job.id!);
    else add(job.data.eventId, job.id!);
  }
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

const post = (t: TestService, event: Stripe.Event) => {
  const payload = JSON.stringify(event);
  return t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
};

describe('batch jobs: the events of one inbox INSERT share one BullMQ job', () => {
  let api: TestService;
  let worker: TestService | undefined;
  const prefix = `billed-test-${randomBytes(4).toString('hex')}`;

  before(async () => {
    // The API alone first: jobs stay waiting, to be read as the INSERTs left them.
    api = await startTestService({ ROLE: 'api', QUEUE_PREFIX: prefix });
  });
  after(async () => {
    await worker?.stop();
    await api.stop();
  });

  it('a burst is queued in batch jobs, each row naming its job; the relay leaves them be; the worker settles each event once', async () => {
    const invoices = await Promise.all(Array.from({ length: 60 }, () => createInvoice(api, { amountDue: 1500 })));
    const events = invoices.map((invoice) => paymentEvents({ invoiceId: invoice.id, amount: 1500 }).paymentIntent('payment_intent.succeeded'));
    const answers = await Promise.all(events.map((event) => post(api, event)));
    assert.deepEqual(answers.map((res) => res.status), events.map(() => 200));

    const ids = events.map((event) => event.id);
    const rows = await api.query<{ id: string; queue_job: string | null }>('SELECT id, queue_job FROM stripe_events WHERE id IN (?)', [ids]);
    const jobs = (await api.queue.getJobs(['waiting'])) as AnyJob[];
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
    const later = jobsByEvent((await api.queue.getJobs(['waiting'])) as AnyJob[]);
    for (const id of ids) assert.deepEqual(later.get(id), holders.get(id), `no other job for ${id} while its job waits`);

    worker = await startTestService({ ROLE: 'worker', QUEUE_PREFIX: prefix });
    await waitFor(
      'every event to be processed',
      async () => {
        const [row] = await api.query<{ n: number }>("SELECT COUNT(*) AS n FROM stripe_events WHERE id IN (?) AND status = 'processed'", [ids]);
        return Number(row!.n) === ids.length || undefined;
      },
      30_000,
    );
    for (const invoice of invoices) {
      const now = await getInvoice(api, invoice.id);
      assert.equal(now.status, 'paid');
      assert.equal(now.amountPaid, 1500, `invoice ${invoice.id} paid once`);
    }
    // One try each, recorded under the job that ran it.
    const history = await api.query<{ event_id: string; job_id: string; n: number }>(
      'SELECT event_id, MIN(job_id) AS job_id, COUNT(*) AS n FROM event_attempts WHERE event_id IN (?) GROUP BY event_id',
      [ids],
    );
    const holdersNow = jobsByEvent((await api.queue.getJobs(['completed'])) as AnyJob[]);
    for (const row of history) {
      assert.equal(Number(row.n), 1, `event ${row.event_id} tried once`);
      assert.ok(holdersNow.get(row.event_id)?.includes(row.job_id), `event ${row.event_id}'s try names its job`);
    }
    assert.equal(history.length, ids.length);
    const completedBatch = (await api.queue.getJobs(['completed'])).find((job) => isBatchJob(job.data as AnyEventJobData))!;
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
    const dataSource = createDataSource(t.config.DATABASE_URL, { poolSize: 1 });
    await dataSource.initialize();
    try {
      const stored = await withPublisher(t.config, (publisher) =>
        new Ingestor({ dataSource, publisher, logger: createMemoryLogger().logger, metrics: createMetrics() }).storeBatch(
          all.map((event) => ({ ...parseEventEnvelope(event), accountId: null, payload: JSON.stringify(event) })),
        ),
      );
      assert.equal(stored.fresh.length, all.length);
    } finally {
      await dataSource.destroy();
    }

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
