import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, createInvoice, deliver, deliverInOrder, getInvoice, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { createToken } from '../helpers/ops-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../../src/events/handler-registry.js';
import { PAYOUT_QUEUE_NAME } from '../../src/reconciliation/payout-queue.js';
import { boardWriteRoutes, QUEUE_ACTIONS } from '../../src/ops/queue-ui-actions.js';

interface AuditEntry {
  id: number;
  action: string;
  target: string | null;
  actor: { name: string; role: string };
  details: Record<string, unknown> | null;
}

describe('queue UI actions: operators read, retry and promote; admins the rest; every change audited', () => {
  let t: TestService;
  let payouts: Queue;
  let payoutConnection: Redis;
  let operatorJar: string;
  /** charge.refunded runs the real handler unless a test breaks it (a bad deploy), then fixes it. */
  let refundHandlerBroken = false;
  const registry: HandlerRegistry = {
    ...eventHandlers,
    'charge.refunded': async (context) => {
      if (refundHandlerBroken) throw new Error('refund ledger column missing');
      return eventHandlers['charge.refunded']!(context);
    },
  };

  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui_actions'), JOB_ATTEMPTS: '2' }, { registry });
    payoutConnection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
    payouts = new Queue(PAYOUT_QUEUE_NAME, { connection: payoutConnection, prefix: t.config.QUEUE_PREFIX });
    const operator = await createToken(t, 'operator', 'ola (on-call)');
    const login = await t.http.post('/ops/queues/login').set('Origin', t.baseUrl).type('form').send({ token: operator.token });
    operatorJar = String(login.headers['set-cookie']).split(';')[0]!;
  });
  after(async () => {
    refundHandlerBroken = false;
    await payouts?.close();
    payoutConnection?.disconnect();
    await t?.stop();
  });

  /** What the operator's browser sends: the cookie, from the board's own page. */
  const asOperator = (method: 'put' | 'patch' | 'post', path: string) => t.http[method](`/ops/queues${path}`).set('Cookie', operatorJar).set('Origin', t.baseUrl);
  const asAdmin = (method: 'put' | 'patch' | 'post', path: string) => t.http[method](`/ops/queues${path}`).set(auth);
  /** A payout job an hour away: nothing runs it while a test looks at it. */
  const delayedPayoutJob = async (payoutId = `po_ui_${Date.now()}`) => (await payouts.add('payout.items', { payoutId, generation: 1 }, { delay: 3_600_000 })).id!;
  const audit = async (query: Record<string, string>): Promise<AuditEntry[]> => (await t.http.get('/api/ops/audit').query(query).set(auth)).body.data;
  const auditedOnce = (query: Record<string, string>) =>
    waitFor(`audit ${JSON.stringify(query)}`, async () => {
      const entries = await audit(query);
      return entries.length === 1 ? entries[0]! : undefined;
    });

  it("has a decision for every write route bull-board serves (a newer bull-board's new write is admin-only until one is made)", () => {
    const routes = boardWriteRoutes();
    assert.deepEqual(
      routes.filter((route) => !(route in QUEUE_ACTIONS)),
      [],
    );
    assert.deepEqual(
      Object.keys(QUEUE_ACTIONS).filter((route) => !routes.includes(route)),
      [],
      'no decision for a route bull-board no longer serves',
    );
    const operatorMay = Object.entries(QUEUE_ACTIONS)
      .filter(([, policy]) => policy.access === 'operator')
      .map(([, policy]) => policy.name)
      .sort();
    assert.deepEqual(operatorMay, ['promote', 'promote_all', 'retry', 'retry_all']);
  });

  it('refuses an operator every other write with 403 forbidden (or queue_action_off), in words the board shows, and changes nothing', async () => {
    const jobId = await delayedPayoutJob();
    const q = PAYOUT_QUEUE_NAME;
    const writes: [method: 'put' | 'patch' | 'post', path: string, body: object, code: string][] = [
      ['post', `/api/queues/${q}/add`, { name: 'payout.items', data: { payoutId: 'po_forged', generation: 1 }, options: {} }, 'forbidden'],
      ['patch', `/api/queues/${q}/${jobId}/update-data`, { jobData: { payoutId: 'po_other', generation: 1 } }, 'forbidden'],
      ['patch', `/api/queues/${q}/${jobId}/delay`, { runAt: Date.now() + 60_000 }, 'forbidden'],
      ['patch', `/api/queues/${q}/${jobId}/priority`, { priority: 5 }, 'forbidden'],
      ['put', `/api/queues/${q}/${jobId}/clean`, {}, 'forbidden'],
      ['put', `/api/queues/${q}/${jobId}/remove-unprocessed-children`, {}, 'forbidden'],
      ['put', `/api/queues/${q}/clean/delayed`, {}, 'forbidden'],
      ['put', `/api/queues/${q}/empty`, {}, 'forbidden'],
      ['put', `/api/queues/${q}/pause`, {}, 'forbidden'],
      ['put', `/api/queues/${q}/resume`, {}, 'forbidden'],
      ['put', '/api/queues/pause', {}, 'forbidden'],
      ['put', '/api/queues/resume', {}, 'forbidden'],
      ['put', `/api/queues/${q}/concurrency`, { concurrency: 1 }, 'forbidden'],
      ['put', `/api/queues/${q}/rate-limit`, { max: 1, duration: 1000 }, 'forbidden'],
      ['put', `/api/queues/${q}/rate-limit/release`, {}, 'forbidden'],
      ['put', '/api/queues/maintenance/job-schedulers/retention-purge/run', {}, 'forbidden'],
      ['put', `/api/queues/${q}/obliterate`, { force: true }, 'queue_action_off'],
      ['patch', '/api/queues/maintenance/job-schedulers/retention-purge', { every: 1000 }, 'queue_action_off'],
      ['put', '/api/queues/maintenance/job-schedulers/retention-purge/remove', {}, 'queue_action_off'],
    ];
    for (const [method, path, body, code] of writes) {
      const res = await asOperator(method, path).send(body);
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.error.code, code, path);
      // bull-board's page shows error.key as the toast's title and message as its text.
      assert.equal(res.body.error.key, code);
      assert.equal(res.body.message, res.body.error.message);
      assert.match(res.body.message, code === 'queue_action_off' ? /turned off/ : /needs an admin token; operators may look at every queue and retry or promote jobs/);
      if (code === 'forbidden') assert.equal(res.body.error.needs, 'admin');
    }
    const job = await payouts.getJob(jobId);
    assert.equal(await job?.getState(), 'delayed');
    assert.deepEqual(job?.data, { payoutId: job?.data.payoutId, generation: 1 });
    assert.equal(await payouts.isPaused(), false);
    assert.equal(await payouts.getJobCountByTypes('waiting', 'delayed'), 1, 'no job added, none removed');
    assert.deepEqual(await audit({ actor: 'ola (on-call)' }), []);
  });

  it('lets an operator promote a job, audited with the queue and job id', async () => {
    const jobId = await delayedPayoutJob();
    const res = await asOperator('put', `/api/queues/${PAYOUT_QUEUE_NAME}/${jobId}/promote`);
    assert.equal(res.status, 204, res.text);
    const entry = await auditedOnce({ action: 'queue_ui.promote', actor: 'ola (on-call)' });
    assert.equal(entry.target, `${PAYOUT_QUEUE_NAME}/${jobId}`);
    assert.deepEqual(entry.details, { queue: PAYOUT_QUEUE_NAME, jobId });
    assert.equal(entry.actor.role, 'operator');
  });

  it("lets an admin make the other changes, each audited with what changed: job ids, and a job's data keys and size, never its values", async () => {
    const q = PAYOUT_QUEUE_NAME;
    assert.equal((await asAdmin('put', `/api/queues/${q}/pause`)).status, 200);
    const added = await asAdmin('post', `/api/queues/${q}/add`).send({
      name: 'payout.items',
      data: { payoutId: 'po_admin_added', generation: 1, note: 'sk_live_secret_never_logged' },
      options: { delay: 3_600_000 },
    });
    assert.equal(added.status, 200, added.text);
    const jobId = String(added.body.job.id);
    const edited = await asAdmin('patch', `/api/queues/${q}/${jobId}/update-data`).send({ jobData: { payoutId: 'po_admin_added', generation: 2 } });
    assert.equal(edited.status, 200, edited.text);
    assert.deepEqual((await payouts.getJob(jobId))?.data, { payoutId: 'po_admin_added', generation: 2 });
    assert.equal((await asAdmin('put', `/api/queues/${q}/${jobId}/clean`)).status, 204);
    assert.equal(await payouts.getJob(jobId), undefined);
    assert.equal((await asAdmin('put', `/api/queues/${q}/clean/completed`)).status, 200);
    assert.equal((await asAdmin('put', `/api/queues/${q}/resume`)).status, 200);

    const admin = { actor: 'ADMIN_TOKEN' };
    const add = await auditedOnce({ ...admin, action: 'queue_ui.add' });
    assert.equal(add.target, q);
    const addBytes = Buffer.byteLength(JSON.stringify({ payoutId: 'po_admin_added', generation: 1, note: 'sk_live_secret_never_logged' }));
    assert.deepEqual(add.details, { queue: q, jobName: 'payout.items', dataKeys: ['payoutId', 'generation', 'note'], dataBytes: addBytes, optionKeys: ['delay'], jobId });
    const update = await auditedOnce({ ...admin, action: 'queue_ui.update_data' });
    assert.equal(update.target, `${q}/${jobId}`);
    assert.deepEqual(update.details, { queue: q, jobId, dataKeys: ['payoutId', 'generation'], dataBytes: Buffer.byteLength(JSON.stringify({ payoutId: 'po_admin_added', generation: 2 })) });
    assert.deepEqual((await auditedOnce({ ...admin, action: 'queue_ui.remove' })).details, { queue: q, jobId });
    assert.deepEqual((await auditedOnce({ ...admin, action: 'queue_ui.clean' })).details, { queue: q, status: 'completed' });
    assert.deepEqual((await auditedOnce({ ...admin, action: 'queue_ui.pause' })).details, { queue: q });
    assert.deepEqual((await auditedOnce({ ...admin, action: 'queue_ui.resume' })).details, { queue: q });
    const everything = JSON.stringify(await audit({ ...admin, limit: '100' }));
    assert.doesNotMatch(everything, /sk_live_secret_never_logged/);
  });

  it('turns off obliterate and job-scheduler edits for admins too: 403 queue_action_off, saying what to do instead', async () => {
    const obliterate = await asAdmin('put', `/api/queues/${PAYOUT_QUEUE_NAME}/obliterate`).send({ force: true });
    assert.equal(obliterate.status, 403);
    assert.equal(obliterate.body.error.code, 'queue_action_off');
    assert.match(obliterate.body.error.message, /replayed/);
    const schedule = await asAdmin('patch', '/api/queues/maintenance/job-schedulers/retention-purge').send({ every: 1000 });
    assert.equal(schedule.status, 403);
    assert.equal(schedule.body.error.code, 'queue_action_off');
    assert.match(schedule.body.error.message, /EVENT_RETENTION_INTERVAL_MS/);
  });

  async function failedRefund() {
    const invoice = await createInvoice(t, { amountDue: 5000 });
    const payment = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    await deliverInOrder(t, [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')]);
    const refunded = payment.charge('charge.refunded', { amountRefunded: 5000 });
    await deliver(t, refunded);
    assert.equal((await settled(t, refunded.id)).status, 'failed');
    await waitFor('the job in the failed set', async () => (await t.queue.getJobState(refunded.id)) === 'failed');
    return { invoice, event: refunded };
  }
  const eventRow = async (id: string) => (await t.query<{ status: string; attempts: number }>('SELECT status, attempts FROM stripe_events WHERE id = ?', [id]))[0]!;

  it("Retry of a failed event's job runs the event again (a replay, not a no-op): the invoice follows, audited as the operator's retry and replay", async () => {
    refundHandlerBroken = true;
    const { invoice, event } = await failedRefund();
    assert.equal((await getInvoice(t, invoice.id)).status, 'paid');
    refundHandlerBroken = false; // the fix is deployed

    const res = await asOperator('put', `/api/queues/stripe-events/${event.id}/retry`);
    assert.equal(res.status, 204, res.text);
    const row = await waitFor('the event processed again', async () => {
      const r = await eventRow(event.id);
      return r.status === 'processed' ? r : undefined;
    });
    assert.equal(row.attempts, 3, 'two failed tries, then the retried one');
    assert.equal((await getInvoice(t, invoice.id)).status, 'refunded');

    const retry = await auditedOnce({ action: 'queue_ui.retry', target: `stripe-events/${event.id}` });
    assert.equal(retry.actor.name, 'ola (on-call)');
    assert.deepEqual({ ...retry.details, replayAuditId: undefined }, {
      queue: 'stripe-events',
      jobId: event.id,
      eventId: event.id,
      accountId: null,
      previousStatus: 'failed',
      replayAuditId: undefined,
    });
    const replay = await auditedOnce({ action: 'event.replay', target: event.id });
    assert.equal(replay.actor.name, 'ola (on-call)');
    assert.equal((retry.details as { replayAuditId: number }).replayAuditId, replay.id);
    const detail = (await t.http.get(`/api/ops/events/${event.id}`).set(auth)).body;
    assert.equal(detail.replays.length, 1, JSON.stringify(detail.replays));
  });

  it("Retry all in the failed set replays each failed event, and answers bull-board's counts", async () => {
    refundHandlerBroken = true;
    const failed = [await failedRefund(), await failedRefund()];
    refundHandlerBroken = false;
    const res = await asOperator('put', '/api/queues/stripe-events/retry/failed');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { retried: 2, skipped: 0 });
    for (const { invoice, event } of failed) {
      await waitFor(`${event.id} processed again`, async () => (await eventRow(event.id)).status === 'processed');
      assert.equal((await getInvoice(t, invoice.id)).status, 'refunded');
    }
    const entry = await auditedOnce({ action: 'queue_ui.retry_all', actor: 'ola (on-call)' });
    assert.deepEqual(entry.details, { queue: 'stripe-events', status: 'failed', retried: 2, skipped: 0 });
    assert.equal(entry.target, 'stripe-events');
  });

  it('refuses to retry an event job that is not finished, as bull-board does, and a job that does not exist', async () => {
    const missing = await asOperator('put', '/api/queues/stripe-events/evt_never_queued/retry');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'job_not_found');
    const status = await asOperator('put', '/api/queues/stripe-events/retry/waiting');
    assert.equal(status.status, 400);
    assert.equal(status.body.error.code, 'status_not_retriable');
  });
});
