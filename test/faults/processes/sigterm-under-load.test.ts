import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { EVENT_QUEUE_NAME } from '../../../src/events/event-queue.js';
import { REDIS_URL, trackDatabase, uniqueDatabaseUrl } from '../../helpers/test-database.js';
import { deleteKeys } from '../../helpers/test-service.js';
import { exitWithin, ServiceProcesses } from '../../helpers/service-process.js';
import { createBurst, Inbox, postEvent, redeliverUntilAccepted, Sender, serviceEnv, sleep, type Burst } from '../../helpers/payment-burst.js';
import { waitFor } from '../../helpers/wait-for.js';

/** main.ts's backstop: a process still stopping after this exits 1. */
const GRACE_MS = 15_000;

describe('fault: SIGTERM during load (ROLE=all)', function () {
  this.timeout(90_000);

  const processes = new ServiceProcesses();
  const databaseUrl = uniqueDatabaseUrl('sigterm');
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

  /**
   * Nothing half-applied: an event is either processed, with its facts written and
   * counted on its invoice, or still received with none of its facts; and each
   * invoice's amount_paid is exactly the sum of the payments whose payment_intent.succeeded
   * (the event that links the payment to its invoice) is processed.
   */
  async function assertNothingHalfApplied(db: Inbox, burst: Burst): Promise<{ processed: number; received: number }> {
    const rows = await db.query<{ id: string; status: string }>('SELECT id, status FROM stripe_events');
    const status = new Map(rows.map((r) => [r.id, r.status]));
    const other = rows.filter((r) => r.status !== 'processed' && r.status !== 'received');
    assert.deepEqual(other, [], 'every stored event is processed or still received');

    const payments = new Map(
      (await db.query<{ id: string; status: string | null; amount_received: string }>('SELECT id, status, amount_received FROM payments')).map((p) => [
        p.id,
        p,
      ]),
    );
    const charges = new Set((await db.query<{ id: string }>('SELECT id FROM charges')).map((c) => c.id));
    const eventOf = new Map(burst.events.map((e) => [e.id, e]));
    const wrong: string[] = [];
    const countedByInvoice = new Map<string, number>();
    for (const p of burst.payments) {
      const told = burst.events.filter((e) => {
        const object = (JSON.parse(e.payload) as { data: { object: { id: string } } }).data.object.id;
        return object === p.paymentIntentId || object === p.chargeId;
      });
      let counted = false;
      for (const event of told) {
        const s = status.get(event.id);
        const isIntent = eventOf.get(event.id)!.type.startsWith('payment_intent.');
        const factWritten = isIntent ? payments.get(p.paymentIntentId)?.status === 'succeeded' : charges.has(p.chargeId);
        if (s === 'processed' && !factWritten) wrong.push(`${event.id} (${event.type}) processed but its fact is missing`);
        if (s !== 'processed' && factWritten) wrong.push(`${event.id} (${event.type}) ${s ?? 'not stored'} but its fact is written`);
        // The PaymentIntent carries metadata.invoice_id: once it is applied, the payment counts on its invoice.
        if (s === 'processed' && isIntent) counted = true;
      }
      if (counted) countedByInvoice.set(p.invoiceId, (countedByInvoice.get(p.invoiceId) ?? 0) + p.amount);
    }
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} events are half-applied`);
    const invoices = await db.query<{ id: string; amount_paid: string }>('SELECT id, amount_paid FROM invoices');
    const off = invoices.filter((i) => Number(i.amount_paid) !== (countedByInvoice.get(i.id) ?? 0));
    assert.deepEqual(off, [], 'each invoice counts exactly the payments its processed events told');
    return { processed: rows.filter((r) => r.status === 'processed').length, received: rows.filter((r) => r.status === 'received').length };
  }

  it('exits 0 within 15 s, finishes the jobs it had started, and a restarted process finishes the rest: exact totals', async () => {
    const env = serviceEnv({ databaseUrl, redisUrl: REDIS_URL, prefix }, { WORKER_CONCURRENCY: '16' });
    const first = await processes.start('all-1', 'all', env);
    inbox = await Inbox.connect(databaseUrl);
    queueConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(EVENT_QUEUE_NAME, { connection: queueConnection, prefix });

    const burst = await createBurst(first.baseUrl, { invoiceCount: 50, paymentsPerInvoice: 10 });
    // Stripe keeps delivering while the process stops; whatever was not answered 200 is re-sent later.
    let target = first.baseUrl;
    const sender = new Sender(burst.events, () => target, { concurrency: 8, ratePerSecond: 300 });

    await waitFor('the process to be busy with the burst', async () => (await inbox!.processedCount()) >= 200, 30_000, 20);
    // Stripe also redelivers events it already sent, on the connections it keeps open (keep-alive),
    // right up to the moment the process is gone: a stopping API must not be kept alive by them.
    const accepted = () => burst.events.filter((e) => sender.results.get(e.id)?.at(-1)?.status === 200);
    const redeliveries = Array.from({ length: 2 }, async () => {
      let sent = 0;
      while (first.running) {
        const pool = accepted();
        await postEvent(first.baseUrl, pool[Math.floor(Math.random() * pool.length)]!, 5_000);
        sent += 1;
        await sleep(20);
      }
      return sent;
    });
    first.signal('SIGTERM');
    // The jobs under way as the stop begins: each must run to its end, not be cut off.
    const activeAtStop = (await queue.getActive()).map((job) => job.id!);
    const exit = await exitWithin(first, GRACE_MS + 5_000);
    const redelivered = (await Promise.all(redeliveries)).reduce((a, b) => a + b, 0);
    const sentDuringStop = sender.done;
    // Checked last (the rest says more about the stop than an exit code alone), but checked.
    const exitProblems: string[] = [];
    if (exit.code !== 0 || exit.signal !== null) exitProblems.push(`exit code ${exit.code}, signal ${exit.signal} (want 0)`);
    if (exit.elapsedMs >= GRACE_MS) exitProblems.push(`exited ${exit.elapsedMs} ms after SIGTERM (want < ${GRACE_MS})`);
    assert.equal(first.count('stopping'), 1);

    // Graceful: the jobs the worker had started finished (none left active for a stalled check to find).
    assert.ok(activeAtStop.length > 0, 'the worker was busy when SIGTERM came');
    assert.equal(await queue.getActiveCount(), 0, 'no job left active by the stopped worker');
    const unfinished = await inbox.query<{ id: string; status: string }>(`SELECT id, status FROM stripe_events WHERE id IN (?) AND status <> 'processed'`, [
      activeAtStop,
    ]);
    assert.deepEqual(unfinished, [], 'every job active at SIGTERM ran to its end');
    const atStop = await assertNothingHalfApplied(inbox, burst);
    assert.ok(atStop.received > 0 || sender.notAccepted().length > 0, 'stopped in the middle of the burst');

    // A new process takes over: the queued events, and Stripe's retries of every delivery not answered 200.
    const second = await processes.start('all-2', 'all', env);
    target = second.baseUrl;
    await sender.finished;
    const unanswered = sender.notAccepted();
    const answers = sender.statusCounts();
    await redeliverUntilAccepted(() => second.baseUrl, unanswered);
    await inbox.waitAllProcessed(burst, 60_000);

    // A job leaves `active` a moment after its event's row is committed.
    await waitFor('the queue to be empty', async () => {
      const counts = await queue!.getJobCounts('active', 'waiting', 'delayed', 'failed');
      return Object.values(counts).every((n) => n === 0);
    });
    const { retries } = await inbox.assertExactlyOnce(burst);
    console.log(
      `      SIGTERM: exit ${exit.code} after ${exit.elapsedMs} ms; ${activeAtStop.length} jobs active at the signal, all finished; at the stop ${atStop.processed} processed, ${atStop.received} received, ` +
        `${burst.events.length - atStop.processed - atStop.received} not stored; ${sentDuringStop} sent by then; answers ${JSON.stringify(answers)}; ` +
        `${unanswered.length} re-sent; ${redelivered} redeliveries during the stop; ${retries} retried tries`,
    );
    assert.deepEqual(exitProblems, [], 'SIGTERM: a graceful exit, code 0, within 15 s');
  });
});
