import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, createInvoice, deliver, deliverInOrder, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { signedDelivery, stripeEvent, uniqueId } from '../helpers/stripe-events.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../../src/events/handler-registry.js';

interface Listed {
  id: string;
  type: string;
  status: string;
  receivedAt: string;
}

/** The real handlers, except two that always fail: events whose facts never reach the billing tables. */
const registry: HandlerRegistry = {
  ...eventHandlers,
  'payment_intent.processing': async () => {
    throw new Error('ledger unavailable');
  },
  'charge.dispute.created': async () => {
    throw new TypeError('dispute handler bug');
  },
};

describe('GET /api/ops/events', () => {
  let t: TestService;
  let invoice: { id: string };
  let paid: ReturnType<typeof paymentEvents>;
  const ids: Record<string, string> = {};
  let failingInvoice: { id: string };
  let failingPi: string;

  const list = async (query: Record<string, string | number | undefined>) => {
    const res = await t.http.get('/api/ops/events').query(query).set(auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { data: Listed[]; nextCursor: string | null; payloadSearched: boolean };
  };
  const idsOf = (body: { data: Listed[] }) => body.data.map((e) => e.id).sort();

  before(async function () {
    this.timeout(60_000);
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('ops_events') }, { registry });
    invoice = await createInvoice(t, { amountDue: 5000 });
    paid = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    const events = {
      pi: paid.paymentIntent('payment_intent.succeeded'),
      charge: paid.charge('charge.succeeded'),
      refund: paid.refund('refund.created', { id: uniqueId('re'), amount: 1000, status: 'succeeded' }),
      dispute: paid.dispute('charge.dispute.created', { id: uniqueId('dp'), amount: 5000, status: 'needs_response' }),
      other: stripeEvent({ type: 'customer.created', resource: 'customer' }),
    };
    const settledRows = await deliverInOrder(t, Object.values(events));
    assert.deepEqual(
      settledRows.map((r) => r.status),
      ['processed', 'processed', 'processed', 'failed', 'ignored'],
    );
    for (const [name, event] of Object.entries(events)) ids[name] = event.id;
    ids.refundObject = (events.refund.data.object as { id: string }).id;
    ids.disputeObject = (events.dispute.data.object as { id: string }).id;

    failingInvoice = await createInvoice(t);
    const failing = paymentEvents({ invoiceId: failingInvoice.id, amount: 1000 });
    failingPi = failing.paymentIntentId;
    const processing = failing.paymentIntent('payment_intent.processing');
    await deliver(t, processing);
    assert.equal((await settled(t, processing.id)).status, 'failed');
    ids.failingPiEvent = processing.id;
  });
  after(() => t.stop());

  it('lists events newest first with their processing record, not their payload', async () => {
    const body = await list({});
    assert.equal(body.data.length, 6);
    const times = body.data.map((e) => e.receivedAt);
    assert.deepEqual(times, [...times].sort().reverse());
    assert.equal(body.nextCursor, null);
    assert.equal('payload' in body.data[0]!, false);
  });

  it('filters by status and by type, exact or as a family (charge.*)', async () => {
    assert.deepEqual(idsOf(await list({ status: 'failed' })), [ids.dispute, ids.failingPiEvent].sort());
    assert.deepEqual(idsOf(await list({ status: 'ignored' })), [ids.other]);
    assert.deepEqual(idsOf(await list({ type: 'refund.created' })), [ids.refund]);
    assert.deepEqual(idsOf(await list({ type: 'charge.*' })), [ids.charge, ids.dispute].sort());
    assert.deepEqual(idsOf(await list({ type: 'charge.dispute.*', status: 'failed' })), [ids.dispute]);
  });

  it('filters by time, absolute (ISO) or relative (2h)', async () => {
    assert.equal((await list({ since: '2h' })).data.length, 6);
    assert.equal((await list({ until: '2h' })).data.length, 0);
    assert.equal((await list({ since: new Date(Date.now() + 60_000).toISOString() })).data.length, 0);
    assert.equal((await list({ since: '2020-01-01', until: new Date(Date.now() + 60_000).toISOString() })).data.length, 6);
  });

  it('pages with a cursor: every event once, in order, however small the page', async () => {
    const all = (await list({})).data.map((e) => e.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof list>> = await list({ limit: 4, ...(cursor ? { cursor } : {}) });
      assert.ok(page.data.length <= 4);
      seen.push(...page.data.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, all);
  });

  describe('q: finds events by any id they carry', () => {
    it('by event id', async () => {
      assert.deepEqual(idsOf(await list({ q: ids.refund! })), [ids.refund]);
    });

    it('by invoice id: every event about the invoice, through its payments', async () => {
      const body = await list({ q: invoice.id });
      assert.deepEqual(idsOf(body), [ids.pi, ids.charge, ids.refund].sort());
      assert.equal(body.payloadSearched, false, 'found through indexes only');
    });

    it('by payment intent id: the intent and the charge and refund that carry it', async () => {
      assert.deepEqual(idsOf(await list({ q: paid.paymentIntentId })), [ids.pi, ids.charge, ids.refund].sort());
    });

    it('by charge id: the charge, the refund that points at it and the intent whose latest charge it is', async () => {
      assert.deepEqual(idsOf(await list({ q: paid.chargeId })), [ids.pi, ids.charge, ids.refund].sort());
    });

    it('by refund id and by dispute id (their own object)', async () => {
      assert.deepEqual(idsOf(await list({ q: ids.refundObject! })), [ids.refund]);
      assert.deepEqual(idsOf(await list({ q: ids.disputeObject! })), [ids.dispute]);
    });

    it('combines q with the filters', async () => {
      assert.deepEqual(idsOf(await list({ q: invoice.id, type: 'charge.*' })), [ids.charge]);
      assert.deepEqual(idsOf(await list({ q: paid.paymentIntentId, status: 'ignored' })), []);
    });

    it('finds an invoice whose payment event failed, by the invoice id in its payload, when the search is bounded', async () => {
      // The failed event left no payments row: only its payload knows the invoice.
      const unbounded = await list({ q: failingInvoice.id });
      assert.deepEqual(unbounded.data, []);
      assert.equal(unbounded.payloadSearched, false, 'an unbounded q does not scan payloads, and says so');
      for (const bound of [{ status: 'failed' }, { since: '1h' }]) {
        const body = await list({ q: failingInvoice.id, ...bound });
        assert.deepEqual(idsOf(body), [ids.failingPiEvent], JSON.stringify(bound));
        assert.equal(body.payloadSearched, true);
      }
      assert.deepEqual(idsOf(await list({ q: failingPi })), [ids.failingPiEvent], 'its own object id is indexed');
    });

    it('matches whole ids in payloads, never a prefix of a longer one', async () => {
      assert.deepEqual((await list({ q: failingInvoice.id.slice(0, -2), status: 'failed' })).data, []);
    });
  });

  const bad: [Record<string, string>, string][] = [
    [{ status: 'done' }, 'invalid_status'],
    [{ type: 'charge refunded' }, 'invalid_type'],
    [{ since: 'yesterday' }, 'invalid_since'],
    [{ until: '2h ago' }, 'invalid_until'],
    [{ q: "x' OR 1=1" }, 'invalid_q'],
    [{ limit: '0' }, 'invalid_limit'],
    [{ cursor: 'garbage' }, 'invalid_cursor'],
  ];
  for (const [query, code] of bad) {
    it(`rejects ${JSON.stringify(query)} with 400 ${code}`, async () => {
      const res = await t.http.get('/api/ops/events').query(query).set(auth);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, code);
    });
  }
});

describe('GET /api/ops/events/:eventId', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService(
      { DATABASE_URL: uniqueDatabaseUrl('ops_event_detail'), JOB_ATTEMPTS: '3' },
      {
        registry: {
          ...eventHandlers,
          'charge.dispute.created': async () => {
            throw new TypeError('dispute handler bug');
          },
          'customer.created': async ({ manager }) => {
            await manager.query('SELECT id FROM a_table_nobody_created');
          },
        },
      },
    );
  });
  after(() => t.stop());

  it('shows the raw payload, every try with its error and where it was thrown, and the history in order', async () => {
    const event = stripeEvent({ type: 'charge.dispute.created', resource: 'dispute' });
    await deliver(t, event);
    assert.equal((await settled(t, event.id)).status, 'failed');
    const res = await t.http.get(`/api/ops/events/${event.id}`).set(auth);
    assert.equal(res.status, 200);
    const body = res.body;
    assert.deepEqual(body.payload, event);
    assert.equal(body.status, 'failed');
    assert.equal(body.attempts, 3);
    assert.equal(body.lastError, 'TypeError: dispute handler bug');
    assert.deepEqual(
      body.tries.map((a: { attempt: number; outcome: string }) => [a.attempt, a.outcome]),
      [
        [1, 'retrying'],
        [2, 'retrying'],
        [3, 'failed'],
      ],
    );
    for (const tried of body.tries) {
      assert.ok(tried.jobId, 'the BullMQ job that ran the try');
      assert.ok(Date.parse(tried.startedAt) <= Date.parse(tried.finishedAt));
    }
    assert.equal(body.errors.length, 3);
    assert.equal(body.errors[0].error, 'TypeError: dispute handler bug');
    assert.match(body.errors[0].stackLine, /^test\/ops\/events-api\.test\.ts:\d+$/, 'points at the line that threw, relative to the repository');
    assert.deepEqual(
      body.history.map((h: { what: string; outcome?: string }) => h.outcome ?? h.what),
      ['received', 'retrying', 'retrying', 'failed'],
    );
  });

  describe('the stack line (where it was thrown)', () => {
    const stackLineOf = async (eventId: string) => {
      const res = await t.http.get(`/api/ops/events/${eventId}`).set(auth);
      assert.equal(res.status, 200);
      return res.body.tries.at(-1).stackLine as string;
    };

    it("is the handler's line when its query fails, not the driver's frame (a path TypeORM's source map makes up)", async () => {
      const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
      await deliver(t, event);
      assert.equal((await settled(t, event.id)).status, 'failed');
      const stackLine = await stackLineOf(event.id);
      assert.match(stackLine, /^test\/ops\/events-api\.test\.ts:\d+$/);
      const line = Number(stackLine.split(':')[1]);
      const source = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
      assert.match(source[line - 1]!, /a_table_nobody_created/, 'the line of the query');
    });

    it('is a file of src/billing when a real handler\'s write fails in the database', async () => {
      const invoice = await createInvoice(t, { amountDue: 3000 });
      const payment = paymentEvents({ invoiceId: invoice.id, amount: 3000 });
      await deliverInOrder(t, [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')]);
      // Every refund row now breaks a constraint: the handler's INSERT fails in MariaDB.
      await t.query('ALTER TABLE refunds ADD CONSTRAINT ck_refunds_broken CHECK (amount < 0)');
      const refund = payment.refund('refund.created', { id: uniqueId('re'), amount: 1000, status: 'succeeded' });
      await deliver(t, refund);
      assert.equal((await settled(t, refund.id)).status, 'failed');
      assert.match(await stackLineOf(refund.id), /^src\/billing\/[\w.-]+\.ts:\d+$/);
    });
  });
});

describe('GET /api/ops/events?q=<invoice number> (the number a customer quotes)', () => {
  let t: TestService;
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  const MERCHANT_KEY = 'sk_test_51Hnumbers0123456789abcdefNUMBERS';
  const MERCHANT_SECRET = 'whsec_numbers_0123456789abcdef';
  const NUMBER = 'INV-2026-0042';
  const found = async (query: Record<string, string>) => {
    const res = await t.http.get('/api/ops/events').query(query).set(auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { data: { id: string }[]; payloadSearched: boolean };
  };
  const idsFound = async (query: Record<string, string>) => (await found(query)).data.map((e) => e.id).sort();
  let defaultEvents: string[];
  let merchantEvents: string[];
  let failedEvent: string;

  before(async function () {
    this.timeout(60_000);
    fake = await startFakeStripe();
    fake.addAccount({ id: 'acct_numbers', keys: [MERCHANT_KEY] });
    t = await startTestService(
      { DATABASE_URL: uniqueDatabaseUrl('ops_event_numbers'), STRIPE_API_BASE: fake.url, JOB_ATTEMPTS: '1' },
      {
        registry: {
          ...eventHandlers,
          'payment_intent.processing': async () => {
            throw new Error('ledger unavailable');
          },
        },
      },
    );

    // The default account's invoice INV-2026-0042, paid.
    const invoice = await createInvoice(t, { number: NUMBER, amountDue: 4200 });
    const paid = paymentEvents({ invoiceId: invoice.id, amount: 4200 });
    const paidEvents = [paid.paymentIntent('payment_intent.succeeded'), paid.charge('charge.succeeded')];
    await deliverInOrder(t, paidEvents);
    defaultEvents = paidEvents.map((e) => e.id);

    // A merchant account's own INV-2026-0042 (numbers are unique per account, not across them), paid too.
    const account = await t.http.post('/api/accounts').set(auth).send({ name: 'Numbers Ltd' });
    assert.equal(account.status, 201, JSON.stringify(account.body));
    const connected = await t.http.put(`/api/accounts/${account.body.id}/stripe`).set(auth).send({ secretKey: MERCHANT_KEY, webhookSecret: MERCHANT_SECRET });
    assert.equal(connected.status, 200, JSON.stringify(connected.body));
    const merchantInvoice = await t.http
      .post('/api/invoices')
      .set(auth)
      .send({ number: NUMBER, currency: 'usd', amountDue: 900, customer: { name: 'Grace Hopper', email: 'grace@example.com' }, accountId: account.body.id });
    assert.equal(merchantInvoice.status, 201, JSON.stringify(merchantInvoice.body));
    const merchantPaid = paymentEvents({ invoiceId: merchantInvoice.body.id, amount: 900 }).paymentIntent('payment_intent.succeeded');
    const payload = JSON.stringify(merchantPaid);
    await t.http.post(`/webhooks/stripe/${account.body.id}`).set(signedDelivery(payload, MERCHANT_SECRET).headers).send(payload).expect(200);
    assert.equal((await settled(t, merchantPaid.id)).status, 'processed');
    merchantEvents = [merchantPaid.id];

    // Another invoice whose only payment event failed: no payments row names it.
    const stuck = await createInvoice(t, { number: '2026/0043', amountDue: 500 });
    const processing = paymentEvents({ invoiceId: stuck.id, amount: 500 }).paymentIntent('payment_intent.processing');
    await deliver(t, processing);
    assert.equal((await settled(t, processing.id)).status, 'failed');
    failedEvent = processing.id;

    // Noise: another invoice's events must not be found.
    const other = await createInvoice(t, { number: 'INV-2026-0420', amountDue: 700 });
    const otherPaid = paymentEvents({ invoiceId: other.id, amount: 700 });
    await deliverInOrder(t, [otherPaid.paymentIntent('payment_intent.succeeded')]);
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  it("finds the payment events of every account's invoice with that number, through indexes", async () => {
    const body = await found({ q: NUMBER });
    assert.deepEqual(body.data.map((e) => e.id).sort(), [...defaultEvents, ...merchantEvents].sort());
    assert.equal(body.payloadSearched, false, 'no payload scan without a bound');
    assert.deepEqual(await idsFound({ q: NUMBER, type: 'charge.*' }), [defaultEvents[1]]);
    const [plan] = await t.query<{ key: string | null }>('EXPLAIN SELECT id FROM invoices WHERE number = ?', [NUMBER]);
    assert.equal(plan!.key, 'idx_invoices_number', 'a number is looked up by index, across accounts');
  });

  it('matches the whole number exactly', async () => {
    assert.deepEqual(await idsFound({ q: 'INV-2026-004' }), []);
    assert.deepEqual(await idsFound({ q: 'inv-2026-0042' }), [], 'numbers are compared as stored, case included');
  });

  it('finds an invoice whose payment event failed, by number, through its id in the payload, when the search is bounded', async () => {
    assert.deepEqual(await idsFound({ q: '2026/0043' }), [], 'an unbounded search reads no payloads');
    const bounded = await found({ q: '2026/0043', status: 'failed' });
    assert.deepEqual(bounded.data.map((e) => e.id), [failedEvent]);
    assert.equal(bounded.payloadSearched, true);
  });

  it('explains what q accepts when it is neither an id nor a number', async () => {
    const res = await t.http.get('/api/ops/events').query({ q: "INV' OR 1=1" }).set(auth);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'invalid_q');
    assert.match(res.body.error.message, /invoice number \(INV-2026-0042\)/);
  });
});
