import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, createInvoice, deliver, deliverInOrder, getInvoice, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { uniqueId } from '../helpers/stripe-events.js';
import { waitFor } from '../helpers/wait-for.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../../src/events/handler-registry.js';
import { createDataSource } from '../../src/db/data-source.js';
import { createReplayService } from '../../src/ops/replay.service.js';
import { createAuditLog } from '../../src/ops/audit-log.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';

interface Row {
  status: string;
  attempts: number;
}

describe('replay', () => {
  let t: TestService;
  let operator: { id: string; token: string };
  /** charge.refunded runs the real handler, unless a test breaks it (a bad deploy), then fixes it. */
  let refundHandlerBroken = false;
  const registry: HandlerRegistry = {
    ...eventHandlers,
    'charge.refunded': async (context) => {
      if (refundHandlerBroken) throw new Error('refund ledger column missing');
      return eventHandlers['charge.refunded']!(context);
    },
  };

  const row = async (id: string) => (await t.query<Row>('SELECT status, attempts FROM stripe_events WHERE id = ?', [id]))[0]!;
  /** Waits until the event is processed for the `attempts`-th time. */
  const processedAgain = (id: string, attempts: number) =>
    waitFor(`${id} processed (attempt ${attempts})`, async () => {
      const r = await row(id);
      return r.status === 'processed' && r.attempts === attempts ? r : undefined;
    });
  /** Settled again: a replayed event whose change is already applied may be recorded `ignored` (reason `stale`). */
  const settledAgain = (id: string, attempts: number) =>
    waitFor(`${id} settled again (attempt ${attempts})`, async () => {
      const r = await row(id);
      return ['processed', 'ignored'].includes(r.status) && r.attempts === attempts ? r : undefined;
    });
  const stable = (invoice: Record<string, unknown>) => {
    // updatedAt is the row's clock, not its state; everything a user sees must be identical.
    const { updatedAt: _updatedAt, ...rest } = invoice;
    return rest;
  };

  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('ops_replay'), JOB_ATTEMPTS: '3' }, { registry });
    operator = await createToken(t, 'operator', 'dana (on-call)');
  });
  after(() => t.stop());
  afterEach(() => {
    refundHandlerBroken = false;
  });

  async function paidAndRefundedInvoice() {
    const invoice = await createInvoice(t, { amountDue: 5000 });
    const payment = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    const events = [
      payment.paymentIntent('payment_intent.succeeded'),
      payment.charge('charge.succeeded'),
      payment.charge('charge.refunded', { amountRefunded: 2000 }),
      payment.refund('refund.created', { id: uniqueId('re'), amount: 2000, status: 'succeeded' }),
    ];
    const results = await deliverInOrder(t, events);
    assert.ok(results.every((r) => r.status === 'processed'), JSON.stringify(results));
    const state = await getInvoice(t, invoice.id);
    assert.equal(state.status, 'partially_refunded');
    return { invoice, events, state };
  }

  it('replays a processed event: 202, it runs again, and the invoice is exactly as it was', async () => {
    const { invoice, events, state } = await paidAndRefundedInvoice();
    // One job is still in the completed set, one long gone: replay works from the stored event either way.
    await t.queue.remove(events[0]!.id);
    assert.equal(await t.queue.getJob(events[0]!.id), undefined);
    for (const event of events) {
      const res = await t.http.post(`/api/ops/events/${event.id}/replay`).set(bearer(operator.token));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.previousStatus, 'processed');
      assert.equal(res.body.queued, true);
      await settledAgain(event.id, 2);
    }
    assert.deepEqual(stable(await getInvoice(t, invoice.id)), stable(state));
  });

  it('answers 404 event_not_found for replaying an event that was never stored', async () => {
    const res = await t.http.post('/api/ops/events/evt_never_stored/replay').set(bearer(operator.token));
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'event_not_found');
  });

  it('takes a failing handler from failed, after the fix, to processed, with the whole trail', async () => {
    const invoice = await createInvoice(t, { amountDue: 5000 });
    const payment = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    await deliverInOrder(t, [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')]);

    refundHandlerBroken = true;
    const refunded = payment.charge('charge.refunded', { amountRefunded: 5000 });
    await deliver(t, refunded);
    const failed = await settled(t, refunded.id);
    assert.equal(failed.status, 'failed');
    assert.match(failed.last_error ?? '', /refund ledger column missing/);
    assert.equal((await getInvoice(t, invoice.id)).status, 'paid', 'the refund never reached the invoice');

    refundHandlerBroken = false; // the fix is deployed
    const res = await t.http.post(`/api/ops/events/${refunded.id}/replay`).set(bearer(operator.token));
    assert.equal(res.status, 202);
    assert.equal(res.body.previousStatus, 'failed');
    await processedAgain(refunded.id, 4);
    assert.equal((await getInvoice(t, invoice.id)).status, 'refunded');

    const detail = (await t.http.get(`/api/ops/events/${refunded.id}`).set(bearer(operator.token))).body;
    assert.equal(detail.lastError, null);
    assert.deepEqual(
      detail.history.map((h: { what: string; outcome?: string; by?: string }) => h.by ?? h.outcome ?? h.what),
      ['received', 'retrying', 'retrying', 'failed', 'dana (on-call)', 'processed'],
    );
    assert.equal(detail.errors.length, 3, 'the errors of the failed tries are kept');

    const audit = await t.http.get('/api/ops/audit').query({ action: 'event.replay', target: refunded.id }).set(auth);
    assert.equal(audit.status, 200);
    assert.equal(audit.body.data.length, 1);
    const [entry] = audit.body.data;
    assert.deepEqual(entry.actor, { id: operator.id, name: 'dana (on-call)', role: 'operator' });
    assert.equal(entry.count, 1);
    assert.equal(entry.details.previousStatus, 'failed');
    assert.ok(Math.abs(Date.parse(entry.at) - Date.now()) < 60_000);
  });

  describe('POST /api/ops/replay', () => {
    async function failRefunds(n: number) {
      refundHandlerBroken = true;
      const ids: string[] = [];
      const invoices: string[] = [];
      for (let i = 0; i < n; i++) {
        const invoice = await createInvoice(t, { amountDue: 3000 });
        const payment = paymentEvents({ invoiceId: invoice.id, amount: 3000 });
        refundHandlerBroken = false;
        await deliverInOrder(t, [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')]);
        refundHandlerBroken = true;
        const refunded = payment.charge('charge.refunded', { amountRefunded: 1000 });
        await deliver(t, refunded);
        assert.equal((await settled(t, refunded.id)).status, 'failed');
        // The row says failed a moment before BullMQ moves the job out of `active`: wait for that too,
        // or a job-count snapshot (or a replay) can catch the job still running.
        await waitFor(`job ${refunded.id} failed in BullMQ`, async () => (await t.queue.getJobState(refunded.id)) === 'failed');
        ids.push(refunded.id);
        invoices.push(invoice.id);
      }
      return { ids, invoices };
    }

    it('counts without enqueueing on a dry run, then replays exactly the failed events of the type', async () => {
      const { ids, invoices } = await failRefunds(3);
      refundHandlerBroken = false;
      const filter = { status: 'failed', type: 'charge.refunded', since: '1h' };
      const waitingBefore = await t.queue.getJobCounts('waiting', 'delayed', 'active');

      const dry = await t.http.post('/api/ops/replay').set(bearer(operator.token)).send({ ...filter, dryRun: true });
      assert.equal(dry.status, 200);
      assert.deepEqual({ matched: dry.body.matched, enqueued: dry.body.enqueued }, { matched: 3, enqueued: 0 });
      for (const id of ids) assert.equal((await row(id)).status, 'failed', 'a dry run changes nothing');
      assert.deepEqual(await t.queue.getJobCounts('waiting', 'delayed', 'active'), waitingBefore);

      const res = await t.http.post('/api/ops/replay').set(bearer(operator.token)).send(filter);
      assert.equal(res.status, 202);
      assert.deepEqual({ matched: res.body.matched, enqueued: res.body.enqueued }, { matched: 3, enqueued: 3 });
      for (const id of ids) await processedAgain(id, 4);
      for (const id of invoices) assert.equal((await getInvoice(t, id)).status, 'partially_refunded');

      const audit = await t.http.get('/api/ops/audit').query({ action: 'events.replay', actor: 'dana (on-call)' }).set(auth);
      const entry = audit.body.data[0];
      assert.equal(entry.count, 3);
      assert.equal(entry.details.matched, 3);
      assert.equal(entry.details.filter.type, 'charge.refunded');
      assert.equal(entry.details.state, 'done');

      const again = await t.http.post('/api/ops/replay').set(bearer(operator.token)).send(filter);
      assert.deepEqual({ matched: again.body.matched, enqueued: again.body.enqueued }, { matched: 0, enqueued: 0 }, 'nothing is failed any more');
    });

    it('replays processed events in bulk without changing any invoice', async () => {
      const { invoice, events, state } = await paidAndRefundedInvoice();
      const since = new Date(Date.now() - 60_000).toISOString();
      const res = await t.http
        .post('/api/ops/replay')
        .set(bearer(operator.token))
        .send({ status: 'processed', type: 'refund.created', since });
      assert.equal(res.status, 202);
      assert.ok(res.body.matched >= 1);
      assert.equal(res.body.enqueued, res.body.matched);
      for (const event of events.slice(3)) await settledAgain(event.id, 2);
      assert.deepEqual(stable(await getInvoice(t, invoice.id)), stable(state));
    });

    const bad: [unknown, string][] = [
      [{}, 'invalid_status'],
      [{ status: 'all' }, 'invalid_status'],
      [{ status: 'failed', since: 'last week' }, 'invalid_since'],
      [{ status: 'failed', dryRun: 'yes' }, 'invalid_dry_run'],
    ];
    for (const [body, code] of bad) {
      it(`rejects ${JSON.stringify(body)} with 400 ${code}`, async () => {
        const res = await t.http.post('/api/ops/replay').set(bearer(operator.token)).send(body as object);
        assert.equal(res.status, 400);
        assert.equal(res.body.error.code, code);
      });
    }

    it('walks the matches in pages of batchSize, each event once, holding one page at a time', async () => {
      const dataSource = createDataSource(t.config.DATABASE_URL, { poolSize: 2 });
      await dataSource.initialize();
      try {
        const { ids } = await failRefunds(5);
        // The fix is deployed before the replay: the events it resets to `received` may be queued
        // by the service's own relay (every 200 ms) as well as below, and must then succeed.
        refundHandlerBroken = false;
        const batches: string[][] = [];
        const replay = createReplayService({
          dataSource,
          // Records what would be enqueued, page by page; the database side is the real one.
          publisher: { requeue: async (rows) => void batches.push(rows.map((r) => r.id)) },
          audit: createAuditLog(dataSource),
          logger: createMemoryLogger().logger,
          batchSize: 2,
        });
        const result = await replay.replayMatching({ status: 'failed', type: 'charge.refunded', dryRun: false }, { id: 'test', name: 'test', role: 'operator' });
        assert.deepEqual({ matched: result.matched, enqueued: result.enqueued }, { matched: 5, enqueued: 5 });
        assert.deepEqual(batches.map((b) => b.length), [2, 2, 1]);
        assert.deepEqual(batches.flat().sort(), [...ids].sort());
        // Reset: no longer failed (`received`, or already taken again by the relay).
        for (const id of ids) assert.notEqual((await row(id)).status, 'failed', 'reset, waiting for the queue');
        // Hand them to the real queue so the suite leaves nothing half-done.
        await t.http.post('/api/ops/replay').set(auth).send({ status: 'received', type: 'charge.refunded' }).expect(202);
        for (const id of ids) {
          await waitFor(`${id} processed after the replay`, async () => {
            const r = await row(id);
            return r.status === 'processed' && r.attempts >= 4 ? r : undefined;
          });
        }
      } finally {
        await dataSource.destroy();
      }
    });
  });
});
