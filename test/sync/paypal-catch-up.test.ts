import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { SYNC_QUEUE_NAME } from '../../src/sync/sync.queue.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startTwoGateways, type TwoGateways } from '../helpers/two-gateways.js';
import { startFakePaypal, paypalError, type FakePaypal } from '../helpers/fake-paypal.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { scopedToken } from '../helpers/account-scopes.js';
import { connectMerchant, settledIn, type Merchant } from '../helpers/merchants.js';
import { connectPaypal, type PaypalMerchant } from '../helpers/paypal-merchant.js';
import { captureResource, paypalEvent, paypalId } from '../helpers/paypal-events.js';
import { metricValue, runCatchUp, summaryOf } from '../helpers/catch-up.js';
import { waitFor } from '../helpers/wait-for.js';

const PUBLIC_BASE_URL = 'https://billing.example.test';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/billed-ops.js', import.meta.url));

type PaypalEvent = Record<string, unknown> & { id: string };

/** An ISO time `minutes` ago: each test lists its own band of time, apart from the others' events. */
const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/** A completed PayPal capture for `invoiceId` (or for none), `minutesAgo` minutes ago. */
const completedCapture = (invoiceId: string | undefined, value = '10.00', minutesAgo = 10): PaypalEvent => {
  const created = new Date(Date.now() - minutesAgo * 60_000);
  return paypalEvent('PAYMENT.CAPTURE.COMPLETED', captureResource({ value, customId: invoiceId, created, fee: '0.59', net: '9.41' }), { created }) as PaypalEvent;
};

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('catch-up from PayPal: event notifications PayPal never delivered are listed and applied', function () {
  this.timeout(180_000);
  let paypal: FakePaypal;
  let stripe: Awaited<ReturnType<typeof startFakeStripe>>;
  let t: TestService;
  /** Stripe and PayPal on one merchant account. */
  let card: Merchant;
  let pp: PaypalMerchant;
  let operator: Record<string, string>;

  const invoice = async (id: string) => (await t.http.get(`/api/invoices/${id}`).set(auth).expect(200)).body;
  const paypalRun = async (body: Record<string, unknown> = {}, headers = operator) => {
    const [job] = await runCatchUp(t, { gateway: 'paypal', accountId: card.accountId, ...body }, headers);
    return job!;
  };
  const stateRows = (accountId: string) =>
    t.query<{ gateway: string; watermark_at: Date | null; last_run_outcome: string | null; last_run_error: string | null }>(
      'SELECT gateway, watermark_at, last_run_outcome, last_run_error FROM stripe_sync_state WHERE account_scope = ? ORDER BY gateway',
      [accountId],
    );

  let gateways: TwoGateways | undefined;

  before(async () => {
    gateways = await startTwoGateways('Both gateways', { DATABASE_URL: uniqueDatabaseUrl('paypal_catch_up'), CATCH_UP_MAX_RPS: '100' });
    ({ paypal, stripe, t, card, pp } = gateways);
    operator = bearer((await createToken(t, 'operator', 'paypal-catch-up-operator')).token);
  });
  afterEach(() => {
    paypal.eventLinkBase = undefined;
  });
  after(async () => {
    await gateways?.stop();
  });

  it('finds a capture PayPal never delivered, stores it as a PayPal event fetched by catch-up, and pays the invoice once', async () => {
    const invoiceId = await card.invoice(1000);
    const lost = completedCapture(invoiceId);
    paypal.recordEvent(pp.app, lost);
    assert.equal((await invoice(invoiceId)).status, 'open');

    const summary = summaryOf(await paypalRun());
    assert.deepEqual([summary.gateway, summary.listed, summary.new, summary.alreadyHad, summary.invalid], ['paypal', 1, 1, 0, 0]);
    assert.equal((await settledIn(t, lost.id, card.accountId)).status, 'processed');
    const [row] = await t.query<{ gateway: string; source: string; livemode: number }>('SELECT gateway, source, livemode FROM stripe_events WHERE id = ?', [lost.id]);
    assert.deepEqual([row!.gateway, row!.source, Number(row!.livemode)], ['paypal', 'catch_up', 0]);
    const seen = await invoice(invoiceId);
    assert.deepEqual([seen.status, seen.amountPaid, seen.payments.length, seen.payments[0].gateway], ['paid', 1000, 1, 'paypal']);
    const detail = await t.http.get(`/api/ops/events/${lost.id}`).set(operator).expect(200);
    assert.equal(detail.body.source, 'catch_up');

    // Listed again: had already, nothing stored or applied twice.
    const again = summaryOf(await paypalRun({ since: '1h' }));
    assert.deepEqual([again.new, again.alreadyHad], [0, 1]);
    assert.equal((await invoice(invoiceId)).amountPaid, 1000);
    assert.equal(Number((await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events WHERE id = ?', [lost.id]))[0]!.n), 1);
    assert.ok((await metricValue(t, 'billed_catch_up_recovered_events_total', `account="${card.accountId}",gateway="paypal"`))! >= 1);
  });

  it('an event PayPal delivered and lists again is already had; other types are left out, and a listed object that is no event is counted invalid', async () => {
    const invoiceId = await card.invoice(1000);
    const delivered = completedCapture(invoiceId);
    assert.equal((await pp.deliver(delivered)).status, 'processed');
    paypal.recordEvent(pp.app, delivered);
    // A type this service does not handle (PayPal may list it): not ours to store, not counted.
    paypal.recordEvent(pp.app, paypalEvent('PAYMENT.SALE.COMPLETED', { id: paypalId() }, { created: new Date(Date.now() - 60 * 60_000) }));
    // A handled type under an id that is not PayPal's event id form: skipped and counted.
    paypal.recordEvent(pp.app, { ...completedCapture(undefined, '1.00', 50), id: 'evt_notpaypal' });

    const summary = summaryOf(await paypalRun({ since: '2h' }));
    assert.equal(summary.invalid, 1);
    assert.equal(summary.new, 0);
    assert.equal(summary.listed, (summary.alreadyHad as number) + 1, 'every handled event listed is had or invalid');
    assert.equal((await t.query('SELECT id FROM stripe_events WHERE id = ?', ['evt_notpaypal'])).length, 0);
    assert.equal((await invoice(invoiceId)).amountPaid, 1000);
  });

  it('follows PayPal\'s next links over several pages, storing each page as it comes', async () => {
    const before = paypal.requests.length;
    const events = Array.from({ length: 230 }, (_, i) => completedCapture(undefined, '1.00', 20 + i / 100));
    for (const event of events) paypal.recordEvent(pp.app, event);
    const summary = summaryOf(await paypalRun({ since: ago(23), until: ago(19.5) }));
    assert.deepEqual([summary.listed, summary.new], [230, 230]);
    const listings = paypal.requests.slice(before).filter((r) => r.path === '/v1/notifications/webhooks-events');
    assert.equal(listings.length, 3, 'pages of 100');
    assert.ok(listings.every((r) => new URL(`http://x${r.url}`).searchParams.get('page_size') === '100'));
    assert.equal(summary.requests, 4, 'a token, then three pages');
    const stored = await t.query<{ n: number }>("SELECT COUNT(*) AS n FROM stripe_events WHERE id IN (?) AND source = 'catch_up' AND gateway = 'paypal'", [events.map((e) => e.id)]);
    assert.equal(Number(stored[0]!.n), 230);
  });

  it('a next link to PayPal\'s own host is followed (at PAYPAL_API_BASE); one to another host is refused and the run recorded failed', async () => {
    for (let i = 0; i < 120; i++) paypal.recordEvent(pp.app, completedCapture(undefined, '1.00', 30 + i / 100));
    paypal.eventLinkBase = 'https://api-m.sandbox.paypal.com';
    const followed = summaryOf(await paypalRun({ since: ago(32), until: ago(29.5) }));
    assert.deepEqual([followed.listed, followed.new], [120, 120]);

    const more = Array.from({ length: 150 }, (_, i) => completedCapture(undefined, '1.00', 40 + i / 1000));
    const band = { since: ago(41), until: ago(39) };
    for (const event of more) paypal.recordEvent(pp.app, event);
    paypal.eventLinkBase = 'https://paypal.attacker.example';
    const before = paypal.requests.length;
    const refused = await paypalRun(band);
    assert.equal(refused.state, 'failed');
    assert.match(refused.error!, /next link points to https:\/\/paypal\.attacker\.example.*refused/);
    assert.equal(paypal.requests.slice(before).filter((r) => r.path === '/v1/notifications/webhooks-events').length, 1, 'the second page was never asked for');
    // The first page was stored before the refusal: nothing it listed is lost.
    assert.equal(refused.progress!.new, 100);
    const status = await t.http.get('/api/ops/catch-up').set(operator).expect(200);
    const paypalRow = status.body.data.find((a: { accountId: string; gateway: string }) => a.accountId === card.accountId && a.gateway === 'paypal');
    assert.equal(paypalRow.lastRun.outcome, 'failed');
    assert.match(paypalRow.lastRun.error, /refused/);

    paypal.eventLinkBase = undefined;
    const next = summaryOf(await paypalRun(band));
    assert.deepEqual([next.listed, next.new, next.alreadyHad], [150, 50, 100]);
  });

  it('keeps its window and watermark apart from Stripe\'s for the same account', async () => {
    await t.query('DELETE FROM stripe_sync_state WHERE account_scope = ?', [card.accountId]);
    const stripeOnly = await runCatchUp(t, { accountId: card.accountId }, operator);
    assert.equal(summaryOf(stripeOnly[0]!).gateway, 'stripe');
    let rows = await stateRows(card.accountId);
    assert.deepEqual(rows.map((r) => [r.gateway, r.watermark_at !== null]), [['stripe', true]], 'Stripe\'s run moves Stripe\'s watermark only');

    // PayPal's first run lists its own first window (3 days back), whatever Stripe's watermark.
    const first = summaryOf(await paypalRun({ accountId: card.accountId, since: undefined }));
    assert.equal(first.advancedWatermark, true);
    assert.ok(Date.now() - Date.parse(String(first.since)) > 2.9 * 86_400_000, `PayPal's first window starts 3 days back: ${first.since}`);
    rows = await stateRows(card.accountId);
    assert.deepEqual(rows.map((r) => r.gateway), ['paypal', 'stripe']);
    const [paypalState, stripeState] = rows;
    assert.notEqual(paypalState!.watermark_at!.getTime(), stripeState!.watermark_at!.getTime());

    // The next of each starts from its own watermark less the margin.
    const second = summaryOf(await paypalRun({ since: undefined }));
    assert.equal(Date.parse(String(second.since)), paypalState!.watermark_at!.getTime() - 10 * 60_000);
    const stripeSecond = summaryOf((await runCatchUp(t, { accountId: card.accountId }, operator))[0]!);
    assert.equal(Date.parse(String(stripeSecond.since)), stripeState!.watermark_at!.getTime() - 10 * 60_000);
  });

  it('with PayPal down mid-listing, the run is recorded failed, what was listed is kept, and the next run completes', async () => {
    const invoiceId = await card.invoice(120 * 100);
    const events = Array.from({ length: 120 }, (_, i) => completedCapture(invoiceId, '1.00', 45 + i / 1000));
    const band = { since: ago(46), until: ago(44.5) };
    for (const event of events) paypal.recordEvent(pp.app, event);
    let down = true;
    paypal.route('GET', /^\/v1\/notifications\/webhooks-events$/, (req) =>
      down && req.url.includes('next_page_token') ? paypalError(503, 'INTERNAL_SERVICE_ERROR', 'An internal service error has occurred.') : undefined,
    );
    const failed = await paypalRun(band);
    assert.equal(failed.state, 'failed');
    assert.match(failed.error!, /503 INTERNAL_SERVICE_ERROR/);
    assert.equal(failed.progress!.new, 100, 'the first page is stored');
    let [state] = (await stateRows(card.accountId)).filter((r) => r.gateway === 'paypal');
    assert.equal(state!.last_run_outcome, 'failed');

    down = false;
    const next = summaryOf(await paypalRun(band));
    assert.deepEqual([next.new, next.alreadyHad], [20, 100]);
    [state] = (await stateRows(card.accountId)).filter((r) => r.gateway === 'paypal');
    assert.equal(state!.last_run_outcome, 'succeeded');
    await waitFor('the invoice paid by all 120 captures', async () => (await invoice(invoiceId)).amountPaid === 12_000, 30_000, 100);
  });

  it('POST /api/ops/catch-up with gateway paypal: 409 paypal_not_connected without PayPal, every PayPal account when none is named, 400 for another gateway', async () => {
    const stripeOnly = await connectMerchant(t, stripe, 'Stripe only');
    const cases: [Record<string, unknown>, number, string][] = [
      [{ gateway: 'paypal', accountId: stripeOnly.accountId }, 409, 'paypal_not_connected'],
      [{ gateway: 'paypal', accountId: 'default' }, 409, 'paypal_not_connected'],
      [{ gateway: 'adyen' }, 400, 'invalid_body'],
      [{ gateway: 'paypal', since: '40d' }, 400, 'invalid_since'],
    ];
    for (const [body, status, code] of cases) {
      const res = await t.http.post('/api/ops/catch-up').set(operator).send(body);
      assert.deepEqual([res.status, res.body.error?.code], [status, code], JSON.stringify(res.body));
    }
    assert.match((await t.http.post('/api/ops/catch-up').set(operator).send({ gateway: 'paypal', since: '40d' })).body.error.message, /PayPal keeps events for 30 days/);
    const all = await t.http.post('/api/ops/catch-up').set(operator).send({ gateway: 'paypal', since: '10m' }).expect(202);
    assert.deepEqual(all.body.jobs.map((j: { accountId: string; gateway: string }) => [j.accountId, j.gateway]), [[card.accountId, 'paypal']]);
    assert.match(all.body.jobs[0].jobId, /^op-paypal-ma_/);
    const job = await waitFor('the job to end', async () => {
      const view = (await t.http.get(`/api/ops/catch-up/jobs/${all.body.jobs[0].jobId}`).set(operator).expect(200)).body;
      return view.state === 'completed' ? view : undefined;
    }, 30_000, 50);
    assert.equal(job.gateway, 'paypal');
    assert.deepEqual([job.webhookEndpoint.status, job.webhookEndpoint.endpointId], ['ok', pp.webhookId], 'the PayPal webhook is checked with the run');
    const audit = await t.http.get('/api/ops/audit?action=catch_up.run').set(operator).expect(200);
    assert.equal(audit.body.data[0].details.gateway, 'paypal');
  });

  it('an account-scoped token runs and sees its own account\'s PayPal catch-up only', async () => {
    const other = await connectMerchant(t, stripe, 'Other PayPal merchant');
    const otherPp = await connectPaypal(t, paypal, other.accountId);
    paypal.recordEvent(otherPp.app, completedCapture(undefined, '3.00', 4));
    const mine = await scopedToken(t, 'operator', card.accountId, 'paypal-scoped');
    const theirs = await scopedToken(t, 'operator', other.accountId, 'paypal-scoped-other');

    const started = await t.http.post('/api/ops/catch-up').set(mine.headers).send({ gateway: 'paypal', since: '10m' }).expect(202);
    assert.deepEqual(started.body.jobs.map((j: { accountId: string }) => j.accountId), [card.accountId]);
    const otherRun = await runCatchUp(t, { gateway: 'paypal', since: '10m' }, theirs.headers);
    assert.equal(summaryOf(otherRun[0]!).new, 1);
    // Another account's job answers as a missing one.
    const hidden = await t.http.get(`/api/ops/catch-up/jobs/${otherRun[0]!.jobId}`).set(mine.headers);
    assert.deepEqual([hidden.status, hidden.body.error.code], [404, 'job_not_found']);
    const refused = await t.http.post('/api/ops/catch-up').set(mine.headers).send({ gateway: 'paypal', accountId: other.accountId });
    assert.equal(refused.status, 404);
    const status = await t.http.get('/api/ops/catch-up').set(mine.headers).expect(200);
    assert.deepEqual(status.body.data.map((a: { accountId: string; gateway: string }) => [a.accountId, a.gateway]), [
      [card.accountId, 'stripe'],
      [card.accountId, 'paypal'],
    ]);
  });

  it('billed-ops catch-up --gateway paypal shows the run; status shows each gateway\'s row', async () => {
    paypal.recordEvent(pp.app, completedCapture(undefined, '2.00', 3));
    const env = { BILLED_URL: t.baseUrl, BILLED_TOKEN: (await createToken(t, 'operator', 'cli-paypal')).token };
    const run = await cli(['catch-up', '--gateway', 'paypal', '--account', card.accountId, '--since', '5m'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`^${card.accountId} \\(PayPal\\): listed \\d+, new 1, already had \\d+$`, 'm'));
    assert.match(run.stdout, new RegExp(`^${card.accountId}\\s+done\\s+\\d+\\s+1\\s+\\d+\\s+0\\s+[\\d.]+\\s+\\d+\\s+ok$`, 'm'));

    const status = await cli(['status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^${card.accountId}\\s+stripe\\s+\\S+\\s+succeeded \\(operator\\)`, 'm'));
    assert.match(status.stdout, new RegExp(`^${card.accountId}\\s+paypal\\s+\\S+\\s+succeeded \\(operator\\)\\s+\\d+\\s+1\\s+\\d+\\s+ok$`, 'm'));

    const wrong = await cli(['catch-up', '--gateway', 'adyen'], env);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--gateway must be stripe or paypal/);
  });

  it('checks the PayPal webhook with each run: one deleted in the app is reported (job, status, /metrics) until PayPal is connected again', async () => {
    paypal.webhooks.delete(pp.webhookId);
    const job = await paypalRun({ since: '10m' });
    assert.equal(job.state, 'completed', 'the catch-up itself still runs');
    assert.deepEqual(job.webhookEndpoint!.problems.map((p) => p.code), ['deleted']);
    assert.equal(job.webhookEndpoint!.status, 'problems');
    assert.equal(await metricValue(t, 'billed_webhook_endpoint_problems', `account="${card.accountId}",gateway="paypal"`), 1);
    const status = await t.http.get('/api/ops/catch-up').set(operator).expect(200);
    const row = status.body.data.find((a: { accountId: string; gateway: string }) => a.accountId === card.accountId && a.gateway === 'paypal');
    assert.match(row.webhookEndpoint.problems[0].message, /PayPal has no webhook .*Connect PayPal again/);
    // Stripe's endpoint of the same account is its own row, healthy.
    const stripeRow = status.body.data.find((a: { accountId: string; gateway: string }) => a.accountId === card.accountId && a.gateway === 'stripe');
    assert.notEqual(stripeRow.webhookEndpoint.status, 'problems');

    const again = await t.http.put(`/api/accounts/${card.accountId}/paypal`).set(auth).send({ clientId: pp.app.clientId, clientSecret: pp.app.clientSecret, mode: 'sandbox' }).expect(200);
    assert.notEqual(again.body.webhookId, pp.webhookId);
    const fixed = await paypalRun({ since: '10m' });
    assert.deepEqual([fixed.webhookEndpoint!.status, fixed.webhookEndpoint!.endpointId], ['ok', again.body.webhookId]);
    assert.equal(await metricValue(t, 'billed_webhook_endpoint_problems', `account="${card.accountId}",gateway="paypal"`), 0);
  });
});

describe('catch-up from PayPal by itself: a job scheduler per PayPal-connected account', function () {
  this.timeout(60_000);

  it('runs after start-up and on its schedule for each account with PayPal, beside Stripe\'s', async () => {
    const paypal = await startFakePaypal();
    const t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('paypal_catch_up_sched'), PAYPAL_API_BASE: paypal.url, PUBLIC_BASE_URL, CATCH_UP_INTERVAL_MS: '1000' });
    try {
      const account = (await t.http.post('/api/accounts').set(auth).send({ name: 'Scheduled PayPal' }).expect(201)).body.id as string;
      const pp = await connectPaypal(t, paypal, account);
      const lost = completedCapture(undefined, '5.00', 5);
      paypal.recordEvent(pp.app, lost);
      // The schedulers follow the connected accounts within a sync interval (here the catch-up's 1 s).
      assert.equal((await settledIn(t, lost.id, account, 20_000)).status, 'processed');
      const [row] = await t.query<{ source: string }>('SELECT source FROM stripe_events WHERE id = ?', [lost.id]);
      assert.equal(row!.source, 'catch_up');
      const queue = new Queue(SYNC_QUEUE_NAME, { connection: { url: t.config.REDIS_URL }, prefix: t.config.QUEUE_PREFIX });
      try {
        assert.deepEqual((await queue.getJobSchedulers(0, -1)).map((s) => s.key), [`catch-up@paypal@${account}`]);
      } finally {
        await queue.close();
      }
      const [state] = await t.query<{ last_run_trigger: string; gateway: string }>('SELECT gateway, last_run_trigger FROM stripe_sync_state WHERE account_scope = ?', [account]);
      assert.deepEqual([state!.gateway, ['startup', 'schedule'].includes(state!.last_run_trigger)], ['paypal', true]);
    } finally {
      await t.stop();
      await paypal.stop();
    }
  });
});
