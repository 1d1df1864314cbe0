import assert from 'node:assert/strict';
import { startTestService, type TestService } from './helpers/test-service.js';
import { uniqueDatabaseUrl } from './helpers/test-database.js';
import { signedDelivery, stripeEvent, type EventOptions } from './helpers/stripe-events.js';
import { waitFor } from './helpers/wait-for.js';
import type { HandlerRegistry } from '../src/events/handler-registry.js';
import { createEventProcessor } from '../src/events/process-event.js';
import { createDataSource } from '../src/db/data-source.js';
import { createMemoryLogger } from './helpers/memory-logger.js';

interface EventRow {
  status: string;
  reason: string | null;
  attempts: number;
  last_error: string | null;
}

const deliver = async (t: TestService, type: string, resource: EventOptions['resource']) => {
  const event = stripeEvent({ type, resource });
  const payload = JSON.stringify(event);
  const res = await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
  assert.equal(res.status, 200);
  return event.id;
};

const settled = (t: TestService, id: string, statuses: string[]) =>
  waitFor(`event ${id} to reach ${statuses.join('/')}`, async () => {
    const [row] = await t.query<EventRow>('SELECT status, reason, attempts, last_error FROM stripe_events WHERE id = ?', [id]);
    return row && statuses.includes(row.status) ? row : undefined;
  });

describe('event processing', () => {
  let t: TestService;
  let calls: Record<string, number>;
  const registry: HandlerRegistry = {
    // Fails every time: retries are exhausted.
    'charge.dispute.created': async () => {
      calls['charge.dispute.created'] = (calls['charge.dispute.created'] ?? 0) + 1;
      throw new Error('ledger unavailable');
    },
    // Fails once, then succeeds.
    'charge.refunded': async () => {
      calls['charge.refunded'] = (calls['charge.refunded'] ?? 0) + 1;
      if (calls['charge.refunded'] === 1) throw new Error('deadlock, try again');
    },
    'payout.paid': async () => ({ ignored: 'no_invoice' }),
    // Writes, then throws: the write must roll back with the failure.
    'charge.succeeded': async ({ manager, event }) => {
      await manager.query('UPDATE stripe_events SET reason = ? WHERE id = ?', ['half-done', event.id]);
      throw new Error('boom after a write');
    },
  };

  before(async () => {
    // A database of its own: in the run's shared one, this service's relay would queue events other
    // suites left received, which its workers then run beside these (sharing a batch whose failure
    // is no counted try, or calling these handlers), and the tries counted here would vary.
    t = await startTestService({ JOB_ATTEMPTS: '3', DATABASE_URL: uniqueDatabaseUrl('event_processing') }, { registry });
  });
  beforeEach(() => {
    calls = {};
  });
  after(() => t.stop());

  it('marks an event of a type nobody handles ignored with reason unhandled_type, and does not retry it', async () => {
    const id = await deliver(t, 'customer.created', 'customer');
    const row = await settled(t, id, ['ignored']);
    assert.deepEqual({ ...row }, { status: 'ignored', reason: 'unhandled_type', attempts: 1, last_error: null });
  });

  it('records a handler that applied nothing on purpose as ignored with its reason', async () => {
    const id = await deliver(t, 'payout.paid', 'payout');
    const row = await settled(t, id, ['ignored']);
    assert.equal(row.reason, 'no_invoice');
  });

  it('retries a handler that throws, and marks the event failed with its error only when retries are exhausted', async () => {
    const id = await deliver(t, 'charge.dispute.created', 'dispute');
    const row = await settled(t, id, ['failed']);
    assert.equal(row.attempts, 3, 'tried JOB_ATTEMPTS times');
    const tries = await t.query<{ outcome: string }>('SELECT outcome FROM event_attempts WHERE event_id = ? ORDER BY id', [id]);
    assert.deepEqual(
      tries.map((r) => r.outcome),
      ['retrying', 'retrying', 'failed'],
    );
    // At least once per try: when the event shared a batch that its failure rolled back, it runs again alone, and that run is the try.
    assert.ok(calls['charge.dispute.created']! >= 3);
    assert.match(row.last_error ?? '', /ledger unavailable/);
    // The row says failed a moment before BullMQ moves the job out of `active`.
    const job = await t.queue.getJob(id);
    await waitFor('the job to land in the failed set, for on-call', async () => (await job?.getState()) === 'failed');
  });

  it('keeps the event received while retries remain, then processes it on a later try', async () => {
    const id = await deliver(t, 'charge.refunded', 'charge');
    const row = await settled(t, id, ['processed']);
    assert.equal(row.attempts, 2);
    assert.equal(row.last_error, null, 'the error of the earlier try is cleared');
  });

  it('rolls back what a failing handler wrote: effects and status commit together or not at all', async () => {
    const id = await deliver(t, 'charge.succeeded', 'charge');
    const row = await settled(t, id, ['failed']);
    assert.equal(row.reason, null);
  });
});

describe('stopping the service', () => {
  it('lets an active job finish before the worker closes', async () => {
    let release!: () => void;
    let started!: () => void;
    const jobStarted = new Promise<void>((resolve) => (started = resolve));
    const t = await startTestService(
      {},
      {
        registry: {
          'charge.succeeded': async () => {
            started();
            await new Promise<void>((resolve) => (release = resolve));
          },
        },
      },
    );
    const id = await deliver(t, 'charge.succeeded', 'charge');
    await jobStarted;
    const stopping = t.service.stop();
    setTimeout(() => release(), 300);
    await stopping;
    const [row] = await t.query<EventRow>('SELECT status FROM stripe_events WHERE id = ?', [id]);
    assert.equal(row!.status, 'processed');
    await t.stop();
  });
});

describe('two runs of one event at once (a stalled job taken over, a replay)', () => {
  it('settles it once: the run that finishes second settles nothing, records no try, and reports it already settled', async () => {
    const t = await startTestService({ ROLE: 'api' });
    const dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    try {
      const event = stripeEvent({ type: 'charge.succeeded', resource: 'charge' });
      await t.http.post('/webhooks/stripe').set(signedDelivery(JSON.stringify(event)).headers).send(JSON.stringify(event)).expect(200);
      let runs = 0;
      const processEvent = createEventProcessor({
        dataSource,
        logger: createMemoryLogger().logger,
        registry: {
          'charge.succeeded': async ({ manager }) => {
            runs += 1;
            // Both runs hold a lock on the same row in turn, as two handlers of one payment do.
            await manager.query('SELECT id FROM stripe_events WHERE id = ? FOR UPDATE', [event.id]);
            await new Promise((resolve) => setTimeout(resolve, 100));
          },
        },
      });
      const results = await Promise.all([processEvent(event.id, { number: 1, max: 3 }), processEvent(event.id, { number: 1, max: 3 })]);
      assert.equal(runs, 2, 'both runs started');
      assert.deepEqual(results.map((r) => r.alreadySettled ?? false).sort(), [false, true]);
      const [row] = await t.query<{ status: string; attempts: number }>('SELECT status, attempts FROM stripe_events WHERE id = ?', [event.id]);
      assert.deepEqual({ ...row }, { status: 'processed', attempts: 1 });
      const [history] = await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM event_attempts WHERE event_id = ?', [event.id]);
      assert.equal(history!.n, 1, 'one try in the history');
    } finally {
      await dataSource.destroy();
      await t.stop();
    }
  });

  it('settles an event of a type nobody handles once too: its status and its one try in the history commit together', async () => {
    const t = await startTestService({ ROLE: 'api' });
    const dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    try {
      const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
      await t.http.post('/webhooks/stripe').set(signedDelivery(JSON.stringify(event)).headers).send(JSON.stringify(event)).expect(200);
      const processEvent = createEventProcessor({ dataSource, logger: createMemoryLogger().logger, registry: {} });
      const results = await Promise.all([processEvent(event.id, { number: 1, max: 3 }), processEvent(event.id, { number: 1, max: 3 })]);
      assert.deepEqual(results.map((r) => [r.status, r.reason]), [['ignored', 'unhandled_type'], ['ignored', 'unhandled_type']]);
      assert.deepEqual(results.map((r) => r.alreadySettled ?? false).sort(), [false, true]);
      const history = await t.query<{ outcome: string; reason: string }>('SELECT outcome, reason FROM event_attempts WHERE event_id = ?', [event.id]);
      assert.deepEqual(history.map((h) => ({ ...h })), [{ outcome: 'ignored', reason: 'unhandled_type' }], 'one try in the history');
    } finally {
      await dataSource.destroy();
      await t.stop();
    }
  });
});
