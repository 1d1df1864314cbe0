import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { createBatcher } from '../src/events/batcher.js';
import { createEventProcessor, type ProcessResult } from '../src/events/process-event.js';
import { eventHandlers } from '../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../src/events/handler-registry.js';
import { createDataSource } from '../src/db/data-source.js';
import { runWithContext } from '../src/shared/context.js';
import { startTestService, type TestService } from './helpers/test-service.js';
import { createInvoice, deliver, getInvoice } from './helpers/billing-client.js';
import { paymentEvents } from './helpers/payment-events.js';
import { stripeEvent } from './helpers/stripe-events.js';
import { createMemoryLogger } from './helpers/memory-logger.js';

describe('batcher (group commit for work items)', () => {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('runs an item alone when idle, and gathers the items that arrive meanwhile into the next batch, up to maxBatch', async () => {
    const batches: number[][] = [];
    const submit = createBatcher<number, number>(
      async (items) => {
        batches.push(items);
        await tick();
        return items.map((value) => ({ status: 'fulfilled', value: value * 10 }));
      },
      { maxBatch: 3, lanes: 1 },
    );
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(submit));
    assert.deepEqual(results, [10, 20, 30, 40, 50, 60]);
    assert.deepEqual(batches, [[1], [2, 3, 4], [5, 6]]);
  });

  it('runs up to `lanes` batches at once', async () => {
    let running = 0;
    let most = 0;
    const submit = createBatcher<number, number>(
      async (items) => {
        most = Math.max(most, ++running);
        await tick();
        running -= 1;
        return items.map((value) => ({ status: 'fulfilled', value }));
      },
      { maxBatch: 2, lanes: 2 },
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => submit(i)));
    assert.equal(most, 2);
  });

  it('fails only the item whose result failed; a batch that throws fails its own items, and the next batch still runs', async () => {
    const batches: number[][] = [];
    const submit = createBatcher<number, number>(
      async (items) => {
        batches.push(items);
        if (items.includes(99)) throw new Error('whole batch broke');
        return items.map((value) => (value === 2 ? { status: 'rejected', reason: new Error('item 2 broke') } : { status: 'fulfilled', value }));
      },
      { maxBatch: 10, lanes: 1 },
    );
    const outcomes = await Promise.allSettled([submit(1), submit(2), submit(3)]);
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? o.value : String(o.reason))),
      [1, 'Error: item 2 broke', 3],
    );
    await assert.rejects(submit(99), /whole batch broke/);
    assert.equal(await submit(4), 4);
    assert.deepEqual(batches, [[1], [2, 3], [99], [4]]);
  });
});

describe('several events in one transaction', () => {
  let t: TestService;
  let dataSource: DataSource;
  let transactions = 0;

  before(async () => {
    t = await startTestService({ ROLE: 'api' });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    // Counts the transactions begun, whichever runner begins them.
    const create = dataSource.createQueryRunner.bind(dataSource);
    dataSource.createQueryRunner = (...args) => {
      const runner = create(...args);
      const query = runner.query.bind(runner);
      runner.query = ((sql: string, ...rest: unknown[]) => {
        if (sql.startsWith('START TRANSACTION')) transactions += 1;
        return (query as (...a: unknown[]) => Promise<unknown>)(sql, ...rest);
      }) as typeof runner.query;
      return runner;
    };
  });
  after(async () => {
    await dataSource.destroy();
    await t.stop();
  });
  beforeEach(() => {
    transactions = 0;
  });

  const processor = (registry: HandlerRegistry = eventHandlers) => {
    const memory = createMemoryLogger();
    // One lane: the first event runs alone, the ones submitted meanwhile share the next transaction.
    return { processEvent: createEventProcessor({ dataSource, registry, logger: memory.logger, batch: { maxBatch: 16, lanes: 1 } }), lines: memory.lines };
  };
  const submitAll = (processEvent: ReturnType<typeof processor>['processEvent'], ids: string[]) =>
    Promise.allSettled(ids.map((id, i) => runWithContext({ jobId: `job-${i}` }, () => processEvent(id, { number: 1, max: 3 }))));
  const history = (ids: string[]) =>
    t.query<{ event_id: string; job_id: string; outcome: string }>('SELECT event_id, job_id, outcome FROM event_attempts WHERE event_id IN (?) ORDER BY id', [ids]);

  it('applies a burst exactly as one event at a time would: totals, statuses, one history row per event with its own job id', async () => {
    const invoices = [await createInvoice(t, { amountDue: 100_000 }), await createInvoice(t, { amountDue: 100_000 })];
    const events = Array.from({ length: 9 }, (_, i) => paymentEvents({ invoiceId: invoices[i % 2]!.id, amount: 100 + i }).paymentIntent('payment_intent.succeeded'));
    for (const event of events) await deliver(t, event);
    const ids = events.map((e) => e.id);

    const { processEvent } = processor();
    const results = await submitAll(processEvent, ids);
    assert.ok(results.every((r) => r.status === 'fulfilled' && r.value.status === 'processed' && !r.value.alreadySettled), JSON.stringify(results));
    assert.equal(transactions, 2, 'the first event alone, the other eight in one transaction');

    assert.equal((await getInvoice(t, invoices[0]!.id)).amountPaid, 100 + 102 + 104 + 106 + 108);
    assert.equal((await getInvoice(t, invoices[1]!.id)).amountPaid, 101 + 103 + 105 + 107);
    const rows = await t.query<{ status: string; attempts: number }>('SELECT status, attempts FROM stripe_events WHERE id IN (?)', [ids]);
    assert.deepEqual(new Set(rows.map((r) => `${r.status}/${r.attempts}`)), new Set(['processed/1']));
    const tries = await history(ids);
    assert.equal(tries.length, 9);
    assert.deepEqual(new Set(tries.map((row) => `${row.event_id}=${row.job_id}`)), new Set(ids.map((id, i) => `${id}=job-${i}`)));

    // Delivered again (a stalled job, a replay): settled events are reported settled and nothing changes.
    const again = await submitAll(processEvent, ids);
    assert.ok(again.every((r) => r.status === 'fulfilled' && r.value.alreadySettled));
    assert.equal((await getInvoice(t, invoices[0]!.id)).amountPaid, 520);
    assert.equal((await history(ids)).length, 9);
  });

  it('sends what cannot ride along (unhandled type, unknown event, the same event twice) to run alone, with the same outcome as alone', async () => {
    const invoice = await createInvoice(t, { amountDue: 100_000 });
    const payments = Array.from({ length: 3 }, (_, i) => paymentEvents({ invoiceId: invoice.id, amount: 1000 + i }).paymentIntent('payment_intent.succeeded'));
    const unhandled = stripeEvent({ type: 'customer.created', resource: 'customer' });
    for (const event of [...payments, unhandled]) await deliver(t, event);
    const ids = [payments[0]!.id, payments[1]!.id, unhandled.id, 'evt_never_stored', payments[2]!.id, payments[1]!.id];

    const results = await submitAll(processor().processEvent, ids);
    const outcome = (r: PromiseSettledResult<ProcessResult>) => (r.status === 'fulfilled' ? `${r.value.status}${r.value.alreadySettled ? ' (settled)' : ''}` : 'rejected');
    assert.deepEqual(results.map(outcome), ['processed', 'processed', 'ignored', 'rejected', 'processed', 'processed (settled)']);
    assert.match(String((results[3] as PromiseRejectedResult).reason), /not in the inbox/);
    assert.equal((await getInvoice(t, invoice.id)).amountPaid, 1000 + 1001 + 1002);
    const [unhandledRow] = await t.query<{ reason: string }>('SELECT reason FROM stripe_events WHERE id = ?', [unhandled.id]);
    assert.equal(unhandledRow!.reason, 'unhandled_type');
  });

  it('rolls the whole batch back when one handler fails: the others then run alone and apply once, the failing one keeps its retry', async () => {
    const invoice = await createInvoice(t, { amountDue: 100_000 });
    const payments = Array.from({ length: 4 }, (_, i) => paymentEvents({ invoiceId: invoice.id, amount: 200 + i }).paymentIntent('payment_intent.succeeded'));
    const poison = stripeEvent({ type: 'charge.dispute.created', resource: 'dispute' });
    // The poison event sits in the middle of the batch, after two payments already wrote their facts.
    const ordered = [payments[0]!, payments[1]!, payments[2]!, poison, payments[3]!];
    for (const event of ordered) await deliver(t, event);
    const { processEvent, lines } = processor({
      ...eventHandlers,
      'charge.dispute.created': async ({ manager }) => {
        await manager.query("UPDATE invoices SET amount_due = 1 WHERE id = ?", [invoice.id]);
        throw new Error('dispute ledger unavailable');
      },
    });

    const results = await submitAll(
      processEvent,
      ordered.map((e) => e.id),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    assert.ok(lines.some((line) => line.includes('batch rolled back')), 'the batch path ran and rolled back');
    const after = await getInvoice(t, invoice.id);
    assert.equal(after.amountPaid, 200 + 201 + 202 + 203);
    assert.equal(after.amountDue, 100_000, 'the failing handler wrote nothing');
    const [poisonRow] = await t.query<{ status: string; attempts: number; last_error: string }>('SELECT status, attempts, last_error FROM stripe_events WHERE id = ?', [poison.id]);
    assert.equal(poisonRow!.status, 'received', 'retries remain');
    assert.equal(poisonRow!.attempts, 1);
    assert.match(poisonRow!.last_error, /dispute ledger unavailable/);
    // Applied once each: one processed try per payment (a second run would have found it settled or added a row).
    const tries = await history(ordered.map((e) => e.id));
    assert.deepEqual(tries.map((row) => row.outcome).sort(), ['processed', 'processed', 'processed', 'processed', 'retrying']);
  });
  it('fails an invalid object in a batch at once, without retries, while the rest of the batch is applied once', async () => {
    const invoice = await createInvoice(t, { amountDue: 100_000 });
    const payments = Array.from({ length: 4 }, (_, i) => paymentEvents({ invoiceId: invoice.id, amount: 300 + i }).paymentIntent('payment_intent.succeeded'));
    const invalid = paymentEvents({ invoiceId: invoice.id, amount: 999 }).paymentIntent('payment_intent.succeeded');
    (invalid.data.object as unknown as Record<string, unknown>).amount_received = 'lots';
    const ordered = [payments[0]!, payments[1]!, invalid, payments[2]!, payments[3]!];
    for (const event of ordered) await deliver(t, event);

    const results = await submitAll(
      processor().processEvent,
      ordered.map((e) => e.id),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal((await getInvoice(t, invoice.id)).amountPaid, 300 + 301 + 302 + 303);
    const [row] = await t.query<{ status: string; reason: string; attempts: number; last_error: string }>(
      'SELECT status, reason, attempts, last_error FROM stripe_events WHERE id = ?',
      [invalid.id],
    );
    // Failed on its first try although two were left: retrying cannot change a stored payload.
    assert.deepEqual([row!.status, row!.reason, row!.attempts], ['failed', 'invalid_object', 1]);
    assert.match(row!.last_error, /payment_intent\.amount_received: expected an integer or null, got "lots"/);
  });

  it('runs several events of one payment in one batch as in sequence: each sees what the one before it wrote', async () => {
    const invoice = await createInvoice(t, { amountDue: 5000 });
    const payment = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    const warmup = paymentEvents({ invoiceId: null, amount: 100 }).paymentIntent('payment_intent.canceled');
    const processing = payment.paymentIntent('payment_intent.processing');
    const succeeded = payment.paymentIntent('payment_intent.succeeded');
    const charge = payment.charge('charge.succeeded');
    // The same "processing" state reported again by an older event, after the payment succeeded.
    const olderProcessing = payment.paymentIntent('payment_intent.processing', { created: processing.created });
    const events = [warmup, processing, succeeded, charge, olderProcessing];
    for (const event of events) await deliver(t, event);

    const results = await submitAll(
      processor().processEvent,
      events.map((e) => e.id),
    );
    assert.equal(transactions, 2, 'the first alone, the four of one payment together');
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? `${r.value.status}${r.value.reason ? `/${r.value.reason}` : ''}` : String(r.reason))),
      ['processed', 'processed', 'processed', 'processed', 'ignored/stale'],
    );
    const after = await getInvoice(t, invoice.id);
    assert.equal(after.status, 'paid');
    assert.equal(after.amountPaid, 5000);
  });

  it('locks a batch up front, payments then invoices in id order: two batches over the same invoices in opposite orders never deadlock', async () => {
    const invoices = await Promise.all(Array.from({ length: 4 }, () => createInvoice(t, { amountDue: 100_000 })));
    const burst = (order: typeof invoices, base: number) =>
      [paymentEvents({ invoiceId: null, amount: 1 }).paymentIntent('payment_intent.canceled')].concat(
        Array.from({ length: 12 }, (_, i) => paymentEvents({ invoiceId: order[i % order.length]!.id, amount: base + i }).paymentIntent('payment_intent.succeeded')),
      );
    const forward = burst(invoices, 100);
    const backward = burst([...invoices].reverse(), 200);
    for (const event of [...forward, ...backward]) await deliver(t, event);
    const [one, two] = [processor(), processor()];

    const results = await Promise.all([submitAll(one.processEvent, forward.map((e) => e.id)), submitAll(two.processEvent, backward.map((e) => e.id))]);
    assert.ok(results.flat().every((r) => r.status === 'fulfilled' && r.value.status === 'processed'), JSON.stringify(results));
    assert.deepEqual([...one.lines, ...two.lines].filter((line) => line.includes('batch rolled back')), [], 'neither batch deadlocked and fell back');
    const paid = await Promise.all(invoices.map(async (invoice) => (await getInvoice(t, invoice.id)).amountPaid));
    const expected = invoices.map((_, k) => [0, 1, 2].reduce((sum, round) => sum + 100 + k + 4 * round + 200 + (3 - k) + 4 * round, 0));
    assert.deepEqual(paid, expected);
  });

  it('reports an event that another run settled while the batch held it as settled, without a try of its own; the rest are applied once', async () => {
    const invoice = await createInvoice(t, { amountDue: 100_000 });
    const [first, victim, last] = Array.from({ length: 3 }, (_, i) => paymentEvents({ invoiceId: invoice.id, amount: 300 + i }).paymentIntent('payment_intent.succeeded'));
    // Stands in for another worker settling the victim while this batch runs.
    const meddler = stripeEvent({ type: 'customer.updated', resource: 'customer', object: { metadata: { settles: victim!.id } } });
    const events = [first!, meddler, victim!, last!];
    for (const event of events) await deliver(t, event);
    const { processEvent, lines } = processor({
      ...eventHandlers,
      'customer.updated': async ({ manager, event }) => {
        const target = (event.data.object as unknown as { metadata: { settles: string } }).metadata.settles;
        await manager.query("UPDATE stripe_events SET status = 'processed', reason = 'settled elsewhere', attempts = attempts + 1 WHERE id = ?", [target]);
      },
    });

    const results = await submitAll(
      processEvent,
      events.map((e) => e.id),
    );
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? `${r.value.status}${r.value.alreadySettled ? ' (settled)' : ''}` : String(r.reason))),
      ['processed', 'processed', 'processed (settled)', 'processed'],
    );
    assert.equal((results[2] as PromiseFulfilledResult<ProcessResult>).value.reason, 'settled elsewhere');
    // Caught before the COMMIT: the batch rolls back and its events run alone.
    assert.ok(lines.some((line) => line.includes('batch rolled back')));
    // The stand-in settled the victim without applying it; the other two are applied once each.
    assert.equal((await getInvoice(t, invoice.id)).amountPaid, 300 + 302);
    assert.equal((await history([first!.id, last!.id])).length, 2);
    const tries = await history([victim!.id]);
    assert.equal(tries.length, 0, 'the run that found it settled records no try');
    const [row] = await t.query<{ attempts: number }>('SELECT attempts FROM stripe_events WHERE id = ?', [victim!.id]);
    assert.equal(row!.attempts, 1);
  });
});
