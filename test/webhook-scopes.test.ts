import assert from 'node:assert/strict';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from './helpers/test-service.js';
import { startFakeStripe, type FakeStripe } from './helpers/fake-stripe.js';
import { connectMerchant, settledIn, type Merchant } from './helpers/merchants.js';
import { auth, getInvoice } from './helpers/billing-client.js';
import { paymentEvents } from './helpers/payment-events.js';
import { signedDelivery, stripeEvent } from './helpers/stripe-events.js';
import { trackDatabase, uniqueDatabaseUrl } from './helpers/test-database.js';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { waitFor } from './helpers/wait-for.js';
import { createDataSource } from '../src/db/data-source.js';
import { createRelay } from '../src/events/relay.js';
import type { EventPublisher } from '../src/events/event-publisher.js';
import { createMetrics } from '../src/shared/metrics.js';
import { purgeSettledEvents } from '../src/ops/retention.js';
import { createAuditLog } from '../src/ops/audit-log.js';
import { run } from '../src/ops/cli/main.js';
import type Stripe from 'stripe';

/**
 * Issue 12, tenants: the inbox is keyed by (the endpoint's account scope, event id). The same Stripe
 * event reaching the service through two endpoints (the default one and a merchant's, or two
 * merchants') is stored and processed once for each; a redelivery to the same endpoint is a duplicate.
 */
describe('one event id, several endpoints', () => {
  let t: TestService;
  let fake: FakeStripe;
  let x: Merchant;
  let y: Merchant;

  before(async () => {
    fake = await startFakeStripe();
    t = await startTestService({ STRIPE_API_BASE: fake.url, DATABASE_URL: uniqueDatabaseUrl('scopes') });
    x = await connectMerchant(t, fake, 'Xavier & Co');
    y = await connectMerchant(t, fake, 'Yolanda GmbH');
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  const deliverDefault = async (event: Stripe.Event) => {
    const payload = JSON.stringify(event);
    const res = await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { received: boolean; duplicate: boolean };
  };
  const copies = (eventId: string) =>
    t.query<{ account_id: string | null; status: string; reason: string | null; attempts: number }>(
      'SELECT account_id, status, reason, attempts FROM stripe_events WHERE id = ? ORDER BY account_id',
      [eventId],
    );

  it('stores and processes an event delivered to the default endpoint and to a merchant endpoint once for each; a redelivery to either is a duplicate', async () => {
    const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
    assert.deepEqual(await deliverDefault(event), { received: true, duplicate: false });
    assert.deepEqual(await x.deliver(event), { duplicate: false });
    assert.deepEqual(await deliverDefault(event), { received: true, duplicate: true });
    assert.deepEqual(await x.deliver(event), { duplicate: true });

    await settledIn(t, event.id, null);
    await x.settled(event.id);
    assert.deepEqual(await copies(event.id), [
      { account_id: null, status: 'ignored', reason: 'unhandled_type', attempts: 1 },
      { account_id: x.accountId, status: 'ignored', reason: 'unhandled_type', attempts: 1 },
    ]);
    // One job per stored row: the event id for the default endpoint, "<event id>@<account id>" for a merchant's.
    assert.ok(await t.queue.getJob(event.id), 'the default endpoint\'s job');
    const merchantJob = await t.queue.getJob(`${event.id}@${x.accountId}`);
    assert.deepEqual(merchantJob?.data, { eventId: event.id, accountId: x.accountId });
    const history = await t.query<{ account_scope: string; outcome: string }>('SELECT account_scope, outcome FROM event_attempts WHERE event_id = ? ORDER BY account_scope', [event.id]);
    assert.deepEqual(history, [
      { account_scope: '', outcome: 'ignored' },
      { account_scope: x.accountId, outcome: 'ignored' },
    ]);
  });

  it('applies a merchant\'s event although another merchant signed an event with the same id first', async () => {
    const invoice = await y.invoice(1000);
    const real = paymentEvents({ invoiceId: invoice, amount: 1000 }).paymentIntent('payment_intent.succeeded');
    // X knows the id and gets in first, with a payment of its own.
    const squatter = { ...paymentEvents({ invoiceId: null, amount: 1 }).paymentIntent('payment_intent.succeeded'), id: real.id } as Stripe.Event;
    assert.deepEqual(await x.deliver(squatter), { duplicate: false });
    assert.deepEqual(await y.deliver(real), { duplicate: false });
    assert.equal((await x.settled(real.id)).status, 'processed');
    assert.equal((await y.settled(real.id)).status, 'processed');
    assert.deepEqual([(await getInvoice(t, invoice)).status, (await getInvoice(t, invoice)).amountPaid], ['paid', 1000]);
  });

  it('processes the same payment event delivered to two merchant endpoints once for each: the account that applied it first holds the payment, the other copy ends account_mismatch', async () => {
    const event = paymentEvents({ invoiceId: null, amount: 500 }).paymentIntent('payment_intent.succeeded');
    await x.deliver(event);
    assert.equal((await x.settled(event.id)).status, 'processed');
    await y.deliver(event);
    const other = await y.settled(event.id);
    assert.deepEqual([other.status, other.reason], ['ignored', 'account_mismatch']);
  });

  describe('on-call tools, for an event id stored for two accounts', () => {
    let eventId: string;
    before(async () => {
      const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
      eventId = event.id;
      await deliverDefault(event);
      await y.deliver(event);
      await settledIn(t, eventId, null);
      await y.settled(eventId);
    });

    it('GET /api/ops/events/:eventId answers 409 event_ambiguous naming the accounts, and ?accountId= chooses one (default: the default endpoint)', async () => {
      const ambiguous = await t.http.get(`/api/ops/events/${eventId}`).set(auth);
      assert.equal(ambiguous.status, 409);
      assert.equal(ambiguous.body.error.code, 'event_ambiguous');
      assert.match(ambiguous.body.error.message, new RegExp(`default.*${y.accountId}|${y.accountId}.*default`));
      assert.match(ambiguous.body.error.message, /\?accountId=/);
      assert.deepEqual(ambiguous.body.error.accounts, ['default', y.accountId]);

      const merchant = await t.http.get(`/api/ops/events/${eventId}`).query({ accountId: y.accountId }).set(auth);
      assert.equal(merchant.status, 200);
      assert.deepEqual([merchant.body.id, merchant.body.accountId, merchant.body.tries.length], [eventId, y.accountId, 1]);
      const byDefault = await t.http.get(`/api/ops/events/${eventId}`).query({ accountId: 'default' }).set(auth);
      assert.deepEqual([byDefault.status, byDefault.body.accountId], [200, null]);
      const none = await t.http.get(`/api/ops/events/${eventId}`).query({ accountId: x.accountId }).set(auth);
      assert.deepEqual([none.status, none.body.error?.code], [404, 'event_not_found']);
      const bad = await t.http.get(`/api/ops/events/${eventId}`).query({ accountId: 'acct_123' }).set(auth);
      assert.deepEqual([bad.status, bad.body.error?.code], [400, 'invalid_account_id']);
    });

    it('lists both copies, each with its account, and filters by account (?accountId=)', async () => {
      const accountsListed = async (query: Record<string, string>) => {
        const res = await t.http.get('/api/ops/events').query({ q: eventId, ...query }).set(auth);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body.data.map((e: { accountId: string | null }) => e.accountId);
      };
      assert.deepEqual((await accountsListed({})).sort(), [null, y.accountId].sort());
      assert.deepEqual(await accountsListed({ accountId: y.accountId }), [y.accountId]);
      assert.deepEqual(await accountsListed({ accountId: 'default' }), [null]);
      // One copy per page: the cursor carries the account, so the second copy is on the next page, not skipped.
      const first = await t.http.get('/api/ops/events').query({ q: eventId, limit: 1 }).set(auth);
      const second = await t.http.get('/api/ops/events').query({ q: eventId, limit: 1, cursor: first.body.nextCursor }).set(auth);
      assert.deepEqual([...first.body.data, ...second.body.data].map((e: { accountId: string | null }) => e.accountId).sort(), [null, y.accountId].sort());
    });

    it('replays in bulk only the chosen account\'s events (POST /api/ops/replay with accountId)', async () => {
      const [count] = await t.query<{ n: number }>("SELECT COUNT(*) AS n FROM stripe_events WHERE status = 'ignored' AND account_id = ?", [y.accountId]);
      const dry = await t.http.post('/api/ops/replay').set(auth).send({ status: 'ignored', accountId: y.accountId, dryRun: true });
      assert.deepEqual([dry.status, dry.body.matched], [200, Number(count?.n)]);
      const bad = await t.http.post('/api/ops/replay').set(auth).send({ status: 'ignored', accountId: 'nope', dryRun: true });
      assert.deepEqual([bad.status, bad.body.error?.code], [400, 'invalid_account_id']);
    });

    it('POST /api/ops/events/:eventId/replay answers 409 event_ambiguous, and replays only the chosen account\'s copy', async () => {
      const ambiguous = await t.http.post(`/api/ops/events/${eventId}/replay`).set(auth).send({});
      assert.deepEqual([ambiguous.status, ambiguous.body.error?.code], [409, 'event_ambiguous']);
      const replayed = await t.http.post(`/api/ops/events/${eventId}/replay`).query({ accountId: y.accountId }).set(auth).send({});
      assert.equal(replayed.status, 202, JSON.stringify(replayed.body));
      assert.deepEqual([replayed.body.eventId, replayed.body.accountId], [eventId, y.accountId]);
      await waitFor('the replayed copy to be settled again', async () => (await copies(eventId)).find((r) => r.account_id === y.accountId && r.attempts === 2 && r.status !== 'received'));
      assert.deepEqual(
        (await copies(eventId)).map((r) => [r.account_id, r.attempts]),
        [
          [null, 1],
          [y.accountId, 2],
        ],
      );
      const detail = await t.http.get(`/api/ops/events/${eventId}`).query({ accountId: y.accountId }).set(auth);
      assert.equal(detail.body.replays.length, 1);
      const other = await t.http.get(`/api/ops/events/${eventId}`).query({ accountId: 'default' }).set(auth);
      assert.equal(other.body.replays.length, 0);
    });

    it('billed-ops events show and replay take --account, and say how when it is missing', async () => {
      const cli = async (...args: string[]) => {
        const out: string[] = [];
        const err: string[] = [];
        const code = await run(['node', 'billed-ops', '--url', t.baseUrl, '--token', TEST_ADMIN_TOKEN, ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
        return { code, out: out.join('\n'), err: err.join('\n') };
      };
      const ambiguous = await cli('events', 'show', eventId);
      assert.equal(ambiguous.code, 2, ambiguous.err);
      assert.match(ambiguous.err, /event_ambiguous/);
      assert.match(ambiguous.err, /--account/);
      const shown = await cli('events', 'show', eventId, '--account', y.accountId, '--no-payload');
      assert.equal(shown.code, 0, shown.err);
      assert.match(shown.out, new RegExp(`^account:\\s+${y.accountId}$`, 'm'));
      const replayed = await cli('replay', eventId, '--account', y.accountId);
      assert.equal(replayed.code, 0, replayed.err);
      assert.match(replayed.out, new RegExp(`^Replayed ${eventId} of account ${y.accountId} \\(was (processed|ignored|received)\\); queued`));
      const mine = await cli('events', 'list', '-q', eventId, '--account', y.accountId);
      assert.equal(mine.code, 0, mine.err);
      assert.equal(mine.out.split('\n').filter((line) => line.includes(eventId)).length, 1);
      const listed = await cli('events', 'list', '-q', eventId);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out, new RegExp(`${eventId}\\s+${y.accountId}\\s+customer.created`));
      assert.match(listed.out, new RegExp(`${eventId}\\s+default\\s+customer.created`));
    });
  });
});

describe('relay and retention, for an event id stored for two accounts', () => {
  const databaseUrl = uniqueDatabaseUrl('scopes_ops');
  trackDatabase(databaseUrl);
  let t: TestService;
  before(async () => {
    // Started only to create and migrate the database.
    t = await startTestService({ DATABASE_URL: databaseUrl, ROLE: 'api' });
  });
  after(() => t?.stop());

  const insert = (id: string, accountId: string | null, status: string, age: string) =>
    t.query(
      `INSERT INTO stripe_events (id, account_id, account_scope, type, livemode, stripe_created, payload, status, ingest_batch, received_at)
       VALUES (?, ?, ?, 'customer.created', 0, 1, '{}', ?, 'test', NOW(3) - INTERVAL ${age})`,
      [id, accountId, accountId ?? '', status],
    );

  it('the relay re-enqueues each account\'s copy, under its own job', async () => {
    // Stored by one batched INSERT: same id, same received_at; a page boundary between them must not skip one.
    await t.query(
      `INSERT INTO stripe_events (id, account_id, account_scope, type, livemode, stripe_created, payload, ingest_batch, received_at)
       VALUES ('evt_twice', NULL, '', 'x', 0, 1, '{}', 'test', '2020-01-01 00:00:00.000'),
              ('evt_twice', 'ma_00000000000000000001', 'ma_00000000000000000001', 'x', 0, 1, '{}', 'test', '2020-01-01 00:00:00.000'),
              ('evt_twice', 'ma_00000000000000000002', 'ma_00000000000000000002', 'x', 0, 1, '{}', 'test', '2020-01-01 00:00:00.000')`,
    );
    const dataSource = createDataSource(databaseUrl, { poolSize: 2 });
    await dataSource.initialize();
    try {
      const published: { id: string; accountId: string | null }[] = [];
      const publisher = {
        resubmit: async (rows: { id: string; accountId: string | null }[]) => (published.push(...rows.map(({ id, accountId }) => ({ id, accountId }))), { readded: 0, submitted: rows.length }),
      } as unknown as EventPublisher;
      const relay = createRelay({ dataSource, publisher, logger: createMemoryLogger().logger, metrics: createMetrics(), intervalMs: 1000, afterMs: 60_000, batchSize: 1 });
      assert.equal(await relay.runOnce(), 3);
      assert.deepEqual(published, [
        { id: 'evt_twice', accountId: null },
        { id: 'evt_twice', accountId: 'ma_00000000000000000001' },
        { id: 'evt_twice', accountId: 'ma_00000000000000000002' },
      ]);
    } finally {
      await dataSource.destroy();
    }
  });

  it('retention purges one account\'s settled copy with its history, and keeps the other account\'s failed copy and its history', async () => {
    await insert('evt_kept_once', null, 'processed', '100 DAY');
    await insert('evt_kept_once', 'ma_00000000000000000003', 'failed', '100 DAY');
    await t.query(
      `INSERT INTO event_attempts (event_id, account_scope, attempt, started_at, finished_at, outcome)
       VALUES ('evt_kept_once', '', 1, NOW(3), NOW(3), 'processed'), ('evt_kept_once', 'ma_00000000000000000003', 1, NOW(3), NOW(3), 'failed')`,
    );
    const dataSource = createDataSource(databaseUrl, { poolSize: 2 });
    await dataSource.initialize();
    try {
      const purged = await purgeSettledEvents({
        dataSource,
        audit: createAuditLog(dataSource),
        logger: createMemoryLogger().logger,
        olderThan: new Date(Date.now() - 90 * 86_400_000),
      });
      assert.ok(purged >= 1);
    } finally {
      await dataSource.destroy();
    }
    assert.deepEqual(await t.query("SELECT account_id, status FROM stripe_events WHERE id = 'evt_kept_once'"), [{ account_id: 'ma_00000000000000000003', status: 'failed' }]);
    assert.deepEqual(await t.query("SELECT account_scope, outcome FROM event_attempts WHERE event_id = 'evt_kept_once'"), [
      { account_scope: 'ma_00000000000000000003', outcome: 'failed' },
    ]);
  });
});
