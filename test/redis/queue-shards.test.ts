import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, createInvoice, deliver, deliverInOrder, getInvoice, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../../src/events/handler-registry.js';
import { routingKeyOf } from '../../src/events/stripe-event-envelope.js';
import { shardOf } from '../../src/redis/queue-layout.js';

const SHARDS = 4;
const shardOfEvent = (event: Stripe.Event) => shardOf({ id: event.id, accountId: null, routingKey: routingKeyOf(event.data) }, SHARDS);

describe('QUEUE_SHARDS=4 on one Redis', function () {
  this.timeout(60_000);
  let t: TestService;
  let operator: { token: string };
  /** charge.refunded runs the real handler, unless a test breaks it (a bad deploy), then fixes it. */
  let refundHandlerBroken = false;
  const registry: HandlerRegistry = {
    ...eventHandlers,
    'charge.refunded': async (context) => {
      if (refundHandlerBroken) throw new Error('refund ledger column missing');
      return eventHandlers['charge.refunded']!(context);
    },
  };

  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('shards'), QUEUE_SHARDS: String(SHARDS), JOB_ATTEMPTS: '2' }, { registry });
    operator = await createToken(t, 'operator', 'sam (on-call)');
  });
  after(async () => {
    refundHandlerBroken = false;
    await t?.stop();
  });

  /** The shards whose queue holds the event's job: the batch job its row names, or its own (job id = event id). */
  const shardsHolding = async (id: string) => {
    const [row] = await t.query<{ queue_job: string | null }>('SELECT queue_job FROM stripe_events WHERE id = ?', [id]);
    const jobId = row?.queue_job ?? id;
    const states = await Promise.all(t.queues.map((queue) => queue.getJobState(jobId)));
    return states.flatMap((state, shard) => (state === 'unknown' ? [] : [shard]));
  };

  it('spreads a burst of payments over every shard, each event in its payment\'s shard, and ends with exact totals', async () => {
    assert.deepEqual(t.queues.map((queue) => queue.name), ['stripe-events', 'stripe-events-1', 'stripe-events-2', 'stripe-events-3']);
    assert.equal(t.service.eventWorkers?.length, SHARDS, 'one worker per shard');
    const invoices = await Promise.all(Array.from({ length: 12 }, () => createInvoice(t, { amountDue: 3 * 1500 })));
    const events = invoices.flatMap((invoice) =>
      Array.from({ length: 3 }, () => {
        const payment = paymentEvents({ invoiceId: invoice.id, amount: 1500 });
        return [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')];
      }).flat(),
    );
    for (let i = 0; i < events.length; i += 12) await Promise.all(events.slice(i, i + 12).map((event) => deliver(t, event)));
    await waitFor('every event processed', async () => {
      const [row] = await t.query<{ n: number }>("SELECT COUNT(*) AS n FROM stripe_events WHERE status = 'processed' AND id IN (?)", [events.map((e) => e.id)]);
      return Number(row!.n) === events.length;
    }, 30_000, 50);

    for (const invoice of invoices) {
      const state = await getInvoice(t, invoice.id);
      assert.deepEqual([state.status, state.amountPaid], ['paid', 4500], invoice.id);
    }
    const perShard = [0, 0, 0, 0];
    for (const event of events) {
      const holding = await shardsHolding(event.id);
      assert.deepEqual(holding, [shardOfEvent(event)], `${event.type} ${event.id}: its job in its payment's shard only`);
      perShard[holding[0]!]! += 1;
    }
    assert.ok(perShard.every((n) => n > 0), `every shard had work: ${perShard}`);
    const [attempts] = await t.query<{ tries: number }>('SELECT COUNT(*) AS tries FROM event_attempts WHERE event_id IN (?)', [events.map((e) => e.id)]);
    assert.equal(Number(attempts!.tries), events.length, 'each event applied in one try');
  });

  it('has the relay put a lost job back on the shard its delivery used, read from the stored payload', async () => {
    const invoice = await createInvoice(t, { amountDue: 2000 });
    let payment = paymentEvents({ invoiceId: invoice.id, amount: 2000 });
    // A payment whose shard is neither the first nor the one its event id alone would pick: a relay that lost the routing would show.
    const byIdOnly = (event: Stripe.Event) => shardOf({ id: event.id, accountId: null }, SHARDS);
    let event = payment.paymentIntent('payment_intent.succeeded');
    while (shardOfEvent(event) === 0 || shardOfEvent(event) === byIdOnly(event)) {
      payment = paymentEvents({ invoiceId: invoice.id, amount: 2000 });
      event = payment.paymentIntent('payment_intent.succeeded');
    }
    const shard = shardOfEvent(event);
    const workers = t.service.eventWorkers!;
    await Promise.all(workers.map((worker) => worker.pause()));
    try {
      await deliver(t, event);
      await waitFor('the job waiting in its shard', async () => (await t.queues[shard]!.getJobState(event.id)) === 'waiting');
      // As a Redis restarted without persistence, or a cluster master failed over before replicating, would lose it.
      await t.queues[shard]!.remove(event.id);
      await waitFor('the relay to enqueue it again', async () => (await shardsHolding(event.id)).length > 0, 15_000);
      assert.deepEqual(await shardsHolding(event.id), [shard]);
    } finally {
      for (const worker of workers) worker.resume();
    }
    assert.equal((await settled(t, event.id)).status, 'processed');
    assert.equal((await getInvoice(t, invoice.id)).amountPaid, 2000);
  });

  it('lists every shard in the queue UI, and its Retry of a failed job on a later shard replays the event there', async () => {
    const names = (await t.http.get('/ops/queues/api/queues').set(bearer(operator.token))).body.queues.map((q: { name: string }) => q.name).sort();
    assert.deepEqual(names, ['maintenance', 'payout-reconciliation', 'stripe-events', 'stripe-events-1', 'stripe-events-2', 'stripe-events-3', 'stripe-sync']);

    const invoice = await createInvoice(t, { amountDue: 5000 });
    let payment = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    while (shardOfEvent(payment.charge('charge.refunded', { amountRefunded: 5000 })) === 0) payment = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    await deliverInOrder(t, [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')]);
    refundHandlerBroken = true;
    const refunded = payment.charge('charge.refunded', { amountRefunded: 5000 });
    const shard = shardOfEvent(refunded);
    await deliver(t, refunded);
    assert.equal((await settled(t, refunded.id)).status, 'failed');
    await waitFor('the job in the failed set of its shard', async () => (await t.queues[shard]!.getJobState(refunded.id)) === 'failed');
    refundHandlerBroken = false;

    const queueName = `stripe-events-${shard}`;
    const res = await t.http.put(`/ops/queues/api/queues/${queueName}/${refunded.id}/retry`).set(auth);
    assert.equal(res.status, 204, res.text);
    await waitFor('the event processed again', async () => (await settled(t, refunded.id)).status === 'processed');
    assert.equal((await getInvoice(t, invoice.id)).status, 'refunded');
    assert.deepEqual(await shardsHolding(refunded.id), [shard], 'replayed on its own shard');
    const audit = (await t.http.get('/api/ops/audit').query({ action: 'queue_ui.retry' }).set(auth)).body.data as { target: string }[];
    assert.ok(audit.some((entry) => entry.target === `${queueName}/${refunded.id}`), JSON.stringify(audit));
  });

  it('counts every shard\'s jobs in /metrics, in total and per shard', async () => {
    const text = (await t.http.get('/metrics')).text;
    assert.match(text, /billed_queue_jobs\{state="waiting"\} \d+/);
    for (const queue of ['stripe-events', 'stripe-events-1', 'stripe-events-2', 'stripe-events-3']) {
      assert.match(text, new RegExp(`billed_event_queue_shard_jobs\\{queue="${queue}",state="failed"\\} \\d+`));
    }
  });
});
