import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deleteKeys, startTestService, type TestService } from '../helpers/test-service.js';
import { REDIS_URL, uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, createInvoice, deliver, getInvoice } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * Every process on one QUEUE_PREFIX must use the same QUEUE_SHARDS, or events wait in shards no
 * worker reads: a process that disagrees with a running one refuses to start, naming it.
 */
describe('QUEUE_SHARDS agreement between processes on one queue prefix', function () {
  this.timeout(90_000);
  const prefix = `billed-test-agree-${randomBytes(4).toString('hex')}`;
  const databaseUrl = uniqueDatabaseUrl('shardagree');
  const env = (shards: number, role = 'all') => ({ DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix, QUEUE_SHARDS: String(shards), ROLE: role });
  const running: TestService[] = [];
  const startService = async (shards: number, role?: string) => {
    const t = await startTestService(env(shards, role));
    running.push(t);
    return t;
  };
  const stopService = async (t: TestService) => {
    running.splice(running.indexOf(t), 1);
    await t.stop();
  };

  after(async () => {
    for (const t of running.splice(0)) await t.stop();
    await deleteKeys(REDIS_URL, `${prefix}:*`);
  });

  it('refuses to start a worker reading 2 shards while an API writes to 4, naming the running process and both ways out', async () => {
    const api = await startService(4, 'api');
    const error = await startTestService(env(2, 'worker')).then(
      (t) => {
        running.push(t);
        return assert.fail('a worker with another QUEUE_SHARDS started');
      },
      (e: Error & { exitCode?: number; variable?: string }) => e,
    );
    assert.equal(error.name, 'StartupError');
    assert.equal(error.exitCode, 78, 'EX_CONFIG');
    assert.equal(error.variable, 'QUEUE_SHARDS');
    assert.match(error.message, new RegExp(`^QUEUE_SHARDS=2, but 1 running process on QUEUE_PREFIX "${prefix}" uses another number of shards: api pid ${process.pid} on \\S+ with QUEUE_SHARDS=4, seen \\d+ s ago\\.$`, 'm'));
    assert.match(error.message, /Fix: start this process with the QUEUE_SHARDS of the running ones; or, to change it, stop every API and worker/);

    // The same layout joins; the API keeps taking and processing nothing is in the way.
    const worker = await startService(4, 'worker');
    const invoice = await createInvoice(api, { amountDue: 1500 });
    const payment = paymentEvents({ invoiceId: invoice.id, amount: 1500 });
    await deliver(api, payment.paymentIntent('payment_intent.succeeded'));
    await waitFor('the invoice paid through the 4-shard worker', async () => (await getInvoice(api, invoice.id)).status === 'paid');
    await stopService(worker);
    await stopService(api);
  });

  it('lets every process change to another QUEUE_SHARDS once all have stopped, and the events queued in a dropped shard are applied', async () => {
    // 4 shards, no worker: a payment waits in its shard's queue.
    const api = await startService(4, 'api');
    const invoices = await Promise.all(Array.from({ length: 8 }, () => createInvoice(api, { amountDue: 1000 })));
    for (const invoice of invoices) await deliver(api, paymentEvents({ invoiceId: invoice.id, amount: 1000 }).paymentIntent('payment_intent.succeeded'));
    const waiting = (await Promise.all(api.queues.map((queue) => queue.getWaitingCount()))).slice(1);
    assert.ok(waiting.some((n) => n > 0), `some events wait in shards 1–3, which a 1-shard layout drops: ${waiting.join(', ')}`);
    await stopService(api);

    // All stopped: one shard now. Every event ends applied, those of the dropped shards too.
    const all = await startService(1);
    for (const invoice of invoices) {
      await waitFor(`invoice ${invoice.number} paid`, async () => (await getInvoice(all, invoice.id)).status === 'paid', 20_000);
    }
    const totals = await all.http.get('/api/invoices').set(auth).query({ status: 'paid', limit: 100 });
    assert.equal(totals.body.data.filter((row: { id: string }) => invoices.some((invoice) => invoice.id === row.id)).length, invoices.length);
  });

  it('forgets a process not seen for 30 s; if that process was only stalled, its next heartbeat says the layouts conflict', async () => {
    const t = await startService(1);
    // t's heartbeat stalled for over 30 s (a database failover, a blocked event loop): taken for gone.
    await t.query('UPDATE queue_processes SET seen_at = NOW(3) - INTERVAL 31 SECOND WHERE queue_prefix = ?', [prefix]);
    const other = await startService(2);
    const rows = await other.query<{ queue_shards: number }>('SELECT queue_shards FROM queue_processes WHERE queue_prefix = ?', [prefix]);
    assert.deepEqual(rows.map((row) => Number(row.queue_shards)), [2], 'the stale claim was removed; the new one recorded');
    // t comes back: nothing can stop either now, so the conflict is logged as an error (each heartbeat, 10 s).
    const line = await waitFor(
      'the conflict logged by the stalled process',
      () => t.logs.find((entry) => entry.includes('queue layout conflict')),
      15_000,
      200,
    );
    const logged = JSON.parse(line) as { level: string; queueShards: number; others: string[] };
    assert.equal(logged.level, 'error');
    assert.equal(logged.queueShards, 1);
    assert.match(logged.others.join(), /QUEUE_SHARDS=2/);
    await stopService(other);
    await stopService(t);
  });
});
