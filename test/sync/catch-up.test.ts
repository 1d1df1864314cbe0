import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { Queue } from 'bullmq';
import { SYNC_QUEUE_NAME } from '../../src/sync/sync.queue.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, createInvoice, getInvoice } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { connectMerchant } from '../helpers/merchants.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { allSettled, deliverAll, metricValue, recentPayments, runCatchUp, summaryOf } from '../helpers/catch-up.js';

const DEFAULT_KEY = 'sk_test_51HcatchUpDefault0123456789abcdef';

/** Amounts that differ from payment to payment, so a payment counted twice or missed shows in the totals. */
const amountsFor = (invoice: number, count: number) => Array.from({ length: count }, (_, j) => 100 + ((invoice * 7919 + j * 104_729) % 9_900));

async function invoicesDue(t: TestService, count: number, paymentsEach: number) {
  const invoices: { id: string; amounts: number[] }[] = [];
  for (let i = 0; i < count; i++) {
    const amounts = amountsFor(i, paymentsEach);
    const invoice = await createInvoice(t, { amountDue: amounts.reduce((a, b) => a + b, 0) });
    invoices.push({ id: invoice.id, amounts });
  }
  return invoices;
}

async function amountsPaid(t: TestService, invoiceIds: string[]): Promise<number> {
  const [row] = await t.query<{ paid: string }>('SELECT SUM(amount_paid) AS paid FROM invoices WHERE id IN (?)', [invoiceIds]);
  return Number(row?.paid ?? 0);
}

describe('catch-up: events Stripe never delivered are listed from Stripe and applied', function () {
  this.timeout(180_000);
  let t: TestService;
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  let operator: Record<string, string>;
  let stripeAccount: string;

  before(async () => {
    fake = await startFakeStripe();
    stripeAccount = fake.addAccount({ keys: [DEFAULT_KEY] }).id;
    t = await startTestService({
      DATABASE_URL: uniqueDatabaseUrl('catch_up'),
      STRIPE_SECRET_KEY: DEFAULT_KEY,
      STRIPE_API_BASE: fake.url,
      CATCH_UP_MAX_RPS: '100',
      WORKER_CONCURRENCY: '32',
    });
    operator = bearer((await createToken(t, 'operator', 'catch-up-operator')).token);
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  it('of 2,000 events, 300 never delivered: one catch-up recovers exactly those 300, the totals end exact, and a second adds nothing', async () => {
    const invoices = await invoicesDue(t, 100, 10);
    const payments = recentPayments(invoices);
    const all = payments.flatMap((p) => p.events);
    assert.equal(all.length, 2000);
    fake.events.add(stripeAccount, all);
    // Never delivered: 100 payments entirely (both events), and one half of 100 others (the other half carries the money).
    const lostWhole = payments.slice(0, 100);
    const lostHalf = payments.slice(100, 200);
    const lost = new Set([...lostWhole.flatMap((p) => p.events), ...lostHalf.map((p, i) => p.events[i % 2]!)].map((e) => e.id));
    assert.equal(lost.size, 300);
    await deliverAll(t, all.filter((e) => !lost.has(e.id)));
    await allSettled(t, 1700);

    const total = payments.reduce((sum, p) => sum + p.amount, 0);
    const ids = invoices.map((i) => i.id);
    const lostMoney = lostWhole.reduce((sum, p) => sum + p.amount, 0);
    assert.ok((await amountsPaid(t, ids)) <= total - lostMoney, 'before the catch-up, the lost payments are missing');

    const [first] = await runCatchUp(t, { accountId: 'default' }, operator);
    const summary = summaryOf(first!);
    assert.deepEqual([summary.listed, summary.new, summary.alreadyHad], [2000, 300, 1700]);
    assert.equal(summary.advancedWatermark, true);
    await allSettled(t, 2000);

    assert.equal(await amountsPaid(t, ids), total, 'every payment counted once');
    for (const invoice of invoices.slice(0, 5)) assert.equal((await getInvoice(t, invoice.id)).status, 'paid');
    const recovered = await t.query<{ id: string }>("SELECT id FROM stripe_events WHERE source = 'catch_up'");
    assert.deepEqual(recovered.map((r) => r.id).sort(), [...lost].sort(), 'exactly the events no delivery brought, marked as fetched by catch-up');
    const statuses = await t.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM stripe_events GROUP BY status');
    assert.deepEqual(statuses.map((s) => [s.status, Number(s.n)]), [['processed', 2000]]);

    // The event's story says how it came in.
    const detail = await t.http.get(`/api/ops/events/${[...lost][0]}`).set(operator).expect(200);
    assert.equal(detail.body.source, 'catch_up');
    assert.deepEqual(detail.body.history[0], { at: detail.body.receivedAt, what: 'received', via: 'catch_up' });

    assert.equal(await metricValue(t, 'billed_catch_up_recovered_events_total', 'account="default",gateway="stripe"'), 300);
    const lastSuccess = await metricValue(t, 'billed_catch_up_last_success_timestamp_seconds', 'account="default",gateway="stripe"');
    assert.ok(lastSuccess && Math.abs(lastSuccess - Date.now() / 1000) < 60, `last success ${lastSuccess}`);

    // Again over the same two hours: everything listed is already had; nothing is stored or counted twice.
    const [second] = await runCatchUp(t, { accountId: 'default', since: '2h' }, operator);
    assert.deepEqual([summaryOf(second!).listed, summaryOf(second!).new, summaryOf(second!).alreadyHad], [2000, 0, 2000]);
    // And the account's own window (from the first run's start, less the margin) finds nothing new either.
    const [third] = await runCatchUp(t, {}, operator);
    assert.equal(summaryOf(third!).new, 0);
    assert.equal(Number((await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events'))[0]!.n), 2000);
    assert.equal(await amountsPaid(t, ids), total);
    assert.equal(await metricValue(t, 'billed_catch_up_recovered_events_total', 'account="default",gateway="stripe"'), 300);

    const audit = await t.http.get('/api/ops/audit?action=catch_up.run').set(operator).expect(200);
    assert.equal(audit.body.data.length, 3);
    assert.equal(audit.body.data[2].actor.name, 'catch-up-operator');
  });

  it('with live deliveries of the same events at the same time, stores and applies each event once', async () => {
    const merchant = await connectMerchant(t, fake, 'Concurrent');
    const invoices: { id: string; amounts: number[] }[] = [];
    for (let i = 0; i < 20; i++) {
      const amounts = amountsFor(i + 500, 10);
      invoices.push({ id: await merchant.invoice(amounts.reduce((a, b) => a + b, 0)), amounts });
    }
    const payments = recentPayments(invoices);
    const events = payments.flatMap((p) => p.events);
    fake.events.add(merchant.stripeAccountId, events);
    const before = Number((await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events'))[0]!.n);

    const [deliveries, jobs] = await Promise.all([
      deliverAll(t, [...events].reverse(), { path: `/webhooks/stripe/${merchant.accountId}`, secret: merchant.webhookSecret, concurrency: 8 }),
      runCatchUp(t, { accountId: merchant.accountId }, operator),
    ]);
    const summary = summaryOf(jobs[0]!);
    const storedByWebhook = [...deliveries.values()].filter((duplicate) => !duplicate).length;
    console.log(`      (stored by webhook ${storedByWebhook}, by catch-up ${summary.new as number})`);
    assert.equal(storedByWebhook + (summary.new as number), events.length, 'each event stored by exactly one of the two');
    assert.equal(summary.listed, events.length);
    await allSettled(t, before + events.length);

    const rows = await t.query<{ id: string; n: number; attempts: number }>(
      'SELECT id, COUNT(*) AS n, MAX(attempts) AS attempts FROM stripe_events WHERE account_id = ? GROUP BY id',
      [merchant.accountId],
    );
    assert.equal(rows.length, events.length);
    assert.ok(rows.every((r) => Number(r.n) === 1), 'one row per event');
    const [tries] = await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM event_attempts WHERE account_scope = ?', [merchant.accountId]);
    assert.equal(Number(tries!.n), events.length, 'each event ran once');
    assert.equal(await amountsPaid(t, invoices.map((i) => i.id)), payments.reduce((sum, p) => sum + p.amount, 0));
  });

  it('an event in an API version older than supported goes the way a delivered one does: its object is fetched again and applied', async () => {
    const invoice = await createInvoice(t, { amountDue: 4200 });
    const scenario = paymentEvents({ invoiceId: invoice.id, amount: 4200, apiVersion: '2019-12-03' });
    const old = scenario.paymentIntent('payment_intent.succeeded', { created: Math.floor(Date.now() / 1000) - 600 });
    fake.objects.set(scenario.paymentIntentId, { ...(old.data.object as object), latest_charge: scenario.chargeId });
    fake.events.add(stripeAccount, [old]);
    const [job] = await runCatchUp(t, { accountId: 'default', since: '1h' }, operator);
    assert.equal(summaryOf(job!).new, 1);
    await allSettled(t, Number((await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events'))[0]!.n));
    const [row] = await t.query<{ status: string; api_version: string }>('SELECT status, api_version FROM stripe_events WHERE id = ?', [old.id]);
    assert.deepEqual([row!.status, row!.api_version], ['processed', '2019-12-03']);
    assert.equal((await getInvoice(t, invoice.id)).amountPaid, 4200);
    assert.ok(fake.requests.some((r) => r.path === `/v1/payment_intents/${scenario.paymentIntentId}`), 'the object was fetched again');
  });

  it('a 429 from Stripe slows the catch-up without failing it, and requests stay within CATCH_UP_MAX_RPS', async () => {
    const key = 'sk_test_51HcatchUpPaced0123456789abcdef';
    const account = fake.addAccount({ keys: [key] }).id;
    fake.events.add(account, recentPayments([{ id: 'inv_elsewhere', amounts: Array.from({ length: 600 }, (_, i) => 100 + i) }]).flatMap((p) => p.events));
    const service = await startTestService({
      DATABASE_URL: uniqueDatabaseUrl('catch_up_429'),
      STRIPE_SECRET_KEY: key,
      STRIPE_API_BASE: fake.url,
      CATCH_UP_MAX_RPS: '8',
    });
    try {
      const firstRequest = fake.requests.length;
      const rateLimitedBefore = fake.rateLimitedCount;
      fake.rateLimitNext(2);
      const started = Date.now();
      const [job] = await runCatchUp(service, { accountId: 'default', since: '2h' });
      const summary = summaryOf(job!);
      const tookMs = Date.now() - started;
      assert.deepEqual([summary.listed, summary.new], [1200, 1200], 'every event listed and stored: the 429s cost time, not events');
      assert.equal(summary.rateLimited, 2);
      assert.equal(fake.rateLimitedCount - rateLimitedBefore, 2);
      // Two 429s in a row: waits of 0.5–1 s, then 1–2 s, before the page came.
      assert.ok(tookMs >= 1500, `took ${tookMs} ms`);
      const pages = fake.requests.slice(firstRequest).filter((r) => r.path === '/v1/events');
      assert.equal(pages.length, 12 + 1 + 2, '12 pages of the first 20 types, 1 (empty) of the other 3, and the 2 answered 429');
      // After the 429s, the pages come at the paced rate (arrival times jitter by a few ms each way).
      const paced = pages.slice(3);
      const perSecond = ((paced.length - 1) * 1000) / (paced[paced.length - 1]!.at - paced[0]!.at);
      assert.ok(perSecond <= 8 * 1.05, `at most 8 requests a second (${perSecond.toFixed(2)}/s)`);
      console.log(`      (${pages.length} requests, 2 answered 429, ${summary.listed} events in ${tookMs} ms)`);
    } finally {
      await service.stop();
    }
  });

  it('refuses what it cannot do, each with a code that says why', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ accountId: 'default', since: '40d' }, 400, 'invalid_since'],
      [{ accountId: 'default', since: 'yesterday' }, 400, 'invalid_since'],
      [{ accountId: 'acct_123' }, 400, 'invalid_account_id'],
      [{ accountId: 'ma_00000000000000000000' }, 404, 'account_not_found'],
    ];
    for (const [body, status, code] of cases) {
      const res = await t.http.post('/api/ops/catch-up').set(operator).send(body);
      assert.deepEqual([res.status, res.body.error?.code], [status, code], JSON.stringify(body));
      assert.ok(res.body.error.message.length > 20);
    }
    const created = await t.http.post('/api/accounts').set(auth).send({ name: 'No key' }).expect(201);
    const noKey = await t.http.post('/api/ops/catch-up').set(operator).send({ accountId: created.body.id });
    assert.deepEqual([noKey.status, noKey.body.error.code], [409, 'stripe_not_connected']);
    const unknownJob = await t.http.get('/api/ops/catch-up/jobs/op-default-000000000000').set(operator);
    assert.deepEqual([unknownJob.status, unknownJob.body.error.code], [404, 'job_not_found']);
  });
});

describe('catch-up by itself: a job scheduler per account, once after start-up, one run at a time', function () {
  this.timeout(60_000);
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  let stripeAccount: string;

  before(async () => {
    fake = await startFakeStripe();
    stripeAccount = fake.addAccount({ keys: [DEFAULT_KEY] }).id;
  });
  after(() => fake.stop());

  const schedulerIds = async (t: TestService) => {
    const queue = new Queue(SYNC_QUEUE_NAME, { connection: { url: t.config.REDIS_URL }, prefix: t.config.QUEUE_PREFIX });
    try {
      return (await queue.getJobSchedulers(0, -1)).map((s) => s.key).sort();
    } finally {
      await queue.close();
    }
  };

  const events = (count: number): Stripe.Event[] =>
    recentPayments([{ id: 'inv_not_here', amounts: Array.from({ length: count / 2 }, (_, i) => 100 + i) }]).flatMap((p) => p.events);

  it('runs after start-up and on its schedule for each account with a key, merchants connected later included', async () => {
    fake.events.add(stripeAccount, events(10));
    const t = await startTestService({
      DATABASE_URL: uniqueDatabaseUrl('catch_up_sched'),
      STRIPE_SECRET_KEY: DEFAULT_KEY,
      STRIPE_API_BASE: fake.url,
      CATCH_UP_INTERVAL_MS: '1000',
    });
    try {
      await allSettled(t, 10, 20_000);
      const [row] = await t.query<{ trigger: string }>("SELECT last_run_trigger AS `trigger` FROM stripe_sync_state WHERE account_scope = ''");
      assert.ok(['startup', 'schedule'].includes(row!.trigger));
      const merchant = await connectMerchant(t, fake, 'Scheduled');
      fake.events.add(merchant.stripeAccountId, events(6));
      // The schedulers follow the connected accounts within a sync interval (here the catch-up's 1 s).
      await allSettled(t, 16, 20_000);
      assert.deepEqual(await schedulerIds(t), ['catch-up@default', `catch-up@${merchant.accountId}`].sort());
      const status = await t.http.get('/api/ops/catch-up').set(auth).expect(200);
      assert.deepEqual(status.body.data.map((a: { accountId: string }) => a.accountId), ['default', merchant.accountId]);
      assert.ok(status.body.data.every((a: { lastSuccessAt: string | null }) => a.lastSuccessAt !== null));
    } finally {
      await t.stop();
    }
  });

  it('does nothing by itself with CATCH_UP_INTERVAL_MS=0', async () => {
    const t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('catch_up_off'), STRIPE_SECRET_KEY: DEFAULT_KEY, STRIPE_API_BASE: fake.url, CATCH_UP_INTERVAL_MS: '0' });
    try {
      const before = fake.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(fake.requests.slice(before).filter((r) => r.path === '/v1/events').length, 0);
      assert.equal((await t.query('SELECT * FROM stripe_events')).length, 0);
      assert.deepEqual(await schedulerIds(t), []);
    } finally {
      await t.stop();
    }
  });

  it('runs one catch-up of an account at a time across processes', async () => {
    fake.events.add(stripeAccount, events(400));
    const database = uniqueDatabaseUrl('catch_up_lock');
    const env = { DATABASE_URL: database, STRIPE_SECRET_KEY: DEFAULT_KEY, STRIPE_API_BASE: fake.url, CATCH_UP_MAX_RPS: '5' };
    const [a, b] = [await startTestService(env), await startTestService(env)];
    try {
      // Each service stands for a process: its own workers and database connections (so its own holder of the named lock).
      const [first, second] = await Promise.all([runCatchUp(a, { accountId: 'default', since: '2h' }), runCatchUp(b, { accountId: 'default', since: '2h' })]);
      const outcomes = [first[0]!, second[0]!].map((job) => summaryOf(job));
      // Operator runs wait for each other rather than skip: the second lists after the first, and finds everything had.
      // Run side by side (no lock), the two would split the events between them.
      const news = outcomes.map((o) => o.new as number).sort((x, y) => x - y);
      assert.equal(news[1], outcomes[0]!.listed, 'the one that ran first stored every event');
      assert.equal(news[0], 0, 'the other, run after it, found them all had');
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
