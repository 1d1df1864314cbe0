import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, getInvoice } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { scopedToken } from '../helpers/account-scopes.js';
import { allSettled, deliverAll as postAll } from '../helpers/catch-up.js';
import { charge, dispute, eventAbout, intent, later, payout, refund } from '../helpers/drift-books.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/billed-ops.js', import.meta.url));
const DEFAULT_KEY = 'sk_test_51HdriftCheckDefault0123456789ab';

interface Difference {
  kind: string;
  object: string;
  id: string;
  field: string;
  service: unknown;
  stripe: unknown;
  currency: string | null;
  invoiceId?: string;
}

/** A difference as a line that reads in a failed assertion. */
const line = (d: Difference) => `${d.object} ${d.id} ${d.kind} ${d.field}: service ${String(d.service)}, stripe ${String(d.stripe)}${d.invoiceId ? ` (invoice ${d.invoiceId})` : ''}`;
const lines = (differences: Difference[]) => differences.map(line).sort();

const iso = (unixS: number) => new Date(unixS * 1000).toISOString();
const nowS = () => Math.floor(Date.now() / 1000);

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('drift check: what the service holds against what Stripe lists', function () {
  this.timeout(180_000);
  let t: TestService;
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  let operator: Record<string, string>;
  let defaultStripeAccount: string;
  /** Requests the fake got for the five object lists since `mark`. */
  const listRequests = (mark: number) => fake.requests.slice(mark).filter((r) => r.method === 'GET' && /^\/v1\/(payment_intents|charges|refunds|disputes|payouts)(\/|$)/.test(r.path));

  before(async () => {
    fake = await startFakeStripe();
    defaultStripeAccount = fake.addAccount({ keys: [DEFAULT_KEY] }).id;
    t = await startTestService({
      DATABASE_URL: uniqueDatabaseUrl('drift'),
      STRIPE_SECRET_KEY: DEFAULT_KEY,
      STRIPE_API_BASE: fake.url,
      // No automatic catch-up: only the repair's may recover what the tests left undelivered.
      CATCH_UP_INTERVAL_MS: '0',
      CATCH_UP_MAX_RPS: '100',
      WORKER_CONCURRENCY: '16',
    });
    operator = bearer((await createToken(t, 'operator', 'drift-operator')).token);
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  describe('a merchant whose books lost some of Stripe\'s events', () => {
    let merchant: Merchant;
    let other: Merchant;
    const invoices = { a: '', b: '', c: '' };
    const ids = { piA: '', chA: '', reA: '', duA: '', piB: '', chB: '', po: '', ghost: '' };
    let from: string;
    let undelivered: Stripe.Event[];

    before(async () => {
      merchant = await connectMerchant(t, fake, 'Drifting merchant');
      other = await connectMerchant(t, fake, 'Other merchant');
      invoices.a = await merchant.invoice(5000);
      invoices.b = await merchant.invoice(3000);
      invoices.c = await merchant.invoice(800);
      const base = nowS() - 3600;
      from = iso(base - 60);

      // Invoice A: paid 50.00; a refund of 12.00 the service never heard of; a dispute it saw open, since won.
      const piA = intent({ amount: 5000, status: 'succeeded', invoiceId: invoices.a, created: base });
      const chA = charge({ amount: 5000, intent: piA.id, created: base + 1 });
      piA.latest_charge = chA.id;
      const reA = refund({ charge: chA, amount: 1200, created: base + 600 });
      const chARefunded = later(chA, { amount_refunded: 1200 });
      const duA = dispute({ charge: chA, amount: 5000, status: 'needs_response', created: base + 900 });
      const duAWon = later(duA, { status: 'won' });
      // A refund of 7.00 the service holds (a signed event said so) and Stripe does not have.
      const ghost = refund({ charge: chA, amount: 700, created: base + 1000 });
      // Invoice B: authorized (the service saw that), then captured (it did not).
      const piB = intent({ amount: 3000, status: 'requires_capture', invoiceId: invoices.b, created: base + 1200 });
      const chB = charge({ amount: 3000, intent: piB.id, created: base + 1201, captured: 0 });
      const chBCaptured = later(chB, { amount_captured: 3000, captured: true });
      const piBSucceeded = later(piB, { status: 'succeeded', amount_received: 3000, latest_charge: chB.id });
      // A payout the service never saw.
      const po = payout({ amount: 4200, status: 'pending', created: base + 1500 });
      Object.assign(ids, { piA: piA.id, chA: chA.id, reA: reA.id, duA: duA.id, piB: piB.id, chB: chB.id, po: po.id, ghost: ghost.id });

      const delivered = [
        eventAbout('payment_intent.succeeded', piA, base + 2),
        eventAbout('charge.succeeded', chA, base + 2),
        eventAbout('charge.dispute.created', duA),
        eventAbout('refund.created', ghost),
        eventAbout('charge.succeeded', chB, base + 1202),
      ];
      undelivered = [
        eventAbout('refund.created', reA),
        eventAbout('charge.refunded', chARefunded, base + 601),
        eventAbout('charge.dispute.closed', duAWon, base + 1900),
        eventAbout('charge.captured', chBCaptured, base + 1300),
        eventAbout('payment_intent.succeeded', piBSucceeded, base + 1300),
        eventAbout('payout.created', po),
      ];
      for (const event of delivered) {
        await merchant.deliver(event);
        assert.equal((await merchant.settled(event.id)).status, 'processed', event.type);
      }
      // What Stripe has now, and every event it sent (the catch-up lists them).
      fake.lists.put(merchant.stripeAccountId, piA, chARefunded, reA, duAWon, piBSucceeded, chBCaptured, po);
      fake.events.add(merchant.stripeAccountId, [...delivered, ...undelivered]);
      // Invoice C has a Pay Now PaymentIntent nobody has paid yet: Stripe lists it, no event told of it, no difference.
      await t.http.post(`/api/invoices/${invoices.c}/payment-intent`).set(auth).expect(200);
    });

    it('finds a refund the service never heard of, a charge captured and refunded for other amounts, a dispute since won, a payout it never saw, and a refund Stripe does not have, by object and amount', async () => {
      const mark = fake.requests.length;
      const res = await t.http.get('/api/ops/drift').query({ accountId: merchant.accountId, from }).set(operator);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.account, merchant.accountId);
      assert.equal(res.body.from, from);
      assert.deepEqual(res.body.checked, { paymentIntents: 3, charges: 2, refunds: 1, disputes: 1, payouts: 1 });
      assert.deepEqual(lines(res.body.differences), [
        `charge ${ids.chA} different amountRefunded: service 0, stripe 1200 (invoice ${invoices.a})`,
        // The service has not linked the uncaptured charge to an invoice: only the intent's events name it.
        `charge ${ids.chB} different amountCaptured: service 0, stripe 3000`,
        `dispute ${ids.duA} different status: service needs_response, stripe won (invoice ${invoices.a})`,
        `payment_intent ${ids.piB} different amountReceived: service 0, stripe 3000 (invoice ${invoices.b})`,
        `payment_intent ${ids.piB} different status: service null, stripe succeeded (invoice ${invoices.b})`,
        `payout ${ids.po} missing_in_service amount: service null, stripe 4200`,
        `refund ${ids.ghost} missing_at_stripe amount: service 700, stripe null (invoice ${invoices.a})`,
        `refund ${ids.reA} missing_in_service amount: service null, stripe 1200 (invoice ${invoices.a})`,
      ].sort());
      assert.equal(res.body.differences.find((d: Difference) => d.id === ids.reA).currency, 'usd');
      assert.deepEqual(res.body.totals.refunds, { missing_in_service: 1, missing_at_stripe: 1, different: 0, unreadable: 0 });
      // One page per kind, 100 at a time, in the range asked, with the merchant's own key.
      const requests = listRequests(mark);
      assert.equal(res.body.apiCalls, requests.length);
      assert.deepEqual(requests.map((r) => r.path).sort(), ['/v1/charges', '/v1/disputes', '/v1/payment_intents', '/v1/payouts', '/v1/refunds']);
      for (const r of requests) {
        assert.equal(r.apiKey, merchant.secretKey);
        assert.equal(r.query.get('limit'), '100');
        assert.equal(r.query.get('created[gte]'), String(Math.floor(Date.parse(from) / 1000)));
      }
      // A read: nothing in the audit log.
      const audit = await t.http.get('/api/ops/audit').query({ action: 'drift.repair', target: merchant.accountId }).set(auth).expect(200);
      assert.equal(audit.body.data.length, 0);
    });

    it('the other merchant, checked over the same range, has no differences: each account is compared with its own Stripe account', async () => {
      const res = await t.http.get('/api/ops/drift').query({ accountId: other.accountId, from }).set(operator).expect(200);
      assert.deepEqual(res.body.differences, []);
      assert.deepEqual(res.body.checked, { paymentIntents: 0, charges: 0, refunds: 0, disputes: 0, payouts: 0 });
    });

    it('a token confined to one account checks that account only: another account, or the default one, answers as a missing one', async () => {
      const scoped = await scopedToken(t, 'operator', merchant.accountId, 'drift-scoped');
      const own = await t.http.get('/api/ops/drift').query({ from }).set(scoped.headers);
      assert.equal(own.status, 200, JSON.stringify(own.body));
      assert.equal(own.body.account, merchant.accountId);
      assert.equal(own.body.differences.length, 8);
      const missing = await t.http.get('/api/ops/drift').query({ accountId: 'ma_00000000000000000000', from }).set(scoped.headers);
      for (const accountId of [other.accountId, 'default']) {
        const res = await t.http.get('/api/ops/drift').query({ accountId, from }).set(scoped.headers);
        assert.equal(res.status, 404, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'account_not_found');
        assert.deepEqual(res.body, missing.body, 'exactly as a missing account');
        const repair = await t.http.post('/api/ops/drift/repair').send({ accountId, from }).set(scoped.headers);
        assert.equal(repair.status, 404, JSON.stringify(repair.body));
      }
      // An accountant reads the books, not Stripe: the drift check is on-call's.
      const accountant = bearer((await createToken(t, 'accountant', 'drift-accountant')).token);
      const refused = await t.http.get('/api/ops/drift').query({ from }).set(accountant);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, 'forbidden');
    });

    it('as CSV, every difference is a line, through the formula guard', async () => {
      const res = await t.http.get('/api/ops/drift').query({ accountId: merchant.accountId, from, format: 'csv' }).set(operator).expect(200);
      assert.match(res.headers['content-type']!, /^text\/csv/);
      assert.match(res.headers['content-disposition']!, new RegExp(`^attachment; filename=drift-${merchant.accountId}-\\d{4}-\\d{2}-\\d{2}-\\d{4}-\\d{2}-\\d{2}\\.csv$`));
      const rows = parse(res.text, { columns: true }) as Record<string, string>[];
      assert.equal(rows.length, 8);
      const row = rows.find((r) => r.id === ids.chB)!;
      assert.deepEqual(row, {
        account: merchant.accountId,
        object: 'charge',
        id: ids.chB,
        kind: 'different',
        field: 'amountCaptured',
        service: '0',
        stripe: '3000',
        currency: 'usd',
        invoice_id: '',
      });
    });

    it('repair catches up the events behind the differences; afterwards only what Stripe lacks is still different, and the invoices are right', async () => {
      assert.equal((await getInvoice(t, invoices.b)).amountPaid, 0);
      const res = await t.http.post('/api/ops/drift/repair').send({ accountId: merchant.accountId, from }).set(operator);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.before.differences, 8);
      assert.equal(res.body.catchUp.new, undelivered.length);
      assert.equal(res.body.catchUp.alreadyHad, 5);
      assert.equal(res.body.pending, 0);
      assert.equal(res.body.stillDifferent, 1);
      assert.deepEqual(lines(res.body.after.differences), [`refund ${ids.ghost} missing_at_stripe amount: service 700, stripe null (invoice ${invoices.a})`]);
      assert.equal(res.body.apiCalls, res.body.before.apiCalls + res.body.catchUp.apiCalls + res.body.after.apiCalls);

      // What an accountant sees: the capture paid invoice B; the refund and the won dispute are on invoice A.
      const b = await getInvoice(t, invoices.b);
      assert.equal(b.amountPaid, 3000);
      assert.equal(b.status, 'paid');
      const a = await getInvoice(t, invoices.a);
      assert.deepEqual(a.refunds.map((r: { id: string }) => r.id).sort(), [ids.reA, ids.ghost].sort());
      assert.equal(a.disputes[0].status, 'won');
      const payouts = await t.http.get(`/api/payouts/${ids.po}`).set(auth).expect(200);
      assert.equal(payouts.body.amount, 4200);

      const audit = await t.http.get('/api/ops/audit').query({ action: 'drift.repair' }).set(auth).expect(200);
      const [entry] = audit.body.data;
      assert.equal(entry.id, res.body.auditId);
      assert.equal(entry.actor.name, 'drift-operator');
      assert.equal(entry.target, merchant.accountId);
      assert.equal(entry.count, 8);
      assert.equal(entry.details.differencesAfter, 1);

      // What is left, Stripe lacks: no event can take it away, so a second repair runs no catch-up and says where to look.
      const again = await t.http.post('/api/ops/drift/repair').send({ accountId: merchant.accountId, from }).set(operator).expect(200);
      assert.equal(again.body.catchUp, null);
      assert.equal(again.body.stillDifferent, 1);
      assert.match(again.body.after.notes.join('\n'), /1 object\(s\) the service holds are missing at Stripe: no event can take them away/);
    });
  });

  it('walks more than 100 objects of each kind page by page, and finds each difference once, across page edges and seconds shared by two pages', async () => {
    const base = nowS() - 7200;
    // 230 charges without a PaymentIntent, three a second: 100-object pages end inside a second.
    const charges = Array.from({ length: 230 }, (_, i) => charge({ amount: 1000 + i, intent: null, created: base + Math.floor(i / 3) }));
    const refunds = Array.from({ length: 105 }, (_, i) => refund({ charge: charges[i]!, amount: 100 + i, created: base + 100 + Math.floor(i / 2) }));
    const disputes = Array.from({ length: 101 }, (_, i) => dispute({ charge: charges[120 + (i % 100)]!, amount: 50 + i, status: 'needs_response', created: base + 200 + i }));
    const payouts = Array.from({ length: 150 }, (_, i) => payout({ amount: 10_000 + i, status: 'pending', created: base + i * 2 }));
    // Waiting for their payer: listed, told of by no event, no difference.
    const intents = Array.from({ length: 110 }, (_, i) => intent({ amount: 500 + i, status: 'requires_payment_method', created: base + i }));
    // Charges the service holds and Stripe does not list, at times among the listed ones' (second 43 is split by the first two pages).
    const ghosts = [0, 33, 43, 66, 76].map((at, i) => charge({ amount: 77 + i, intent: null, created: base + at }));
    fake.lists.put(defaultStripeAccount, ...charges, ...refunds, ...disputes, ...payouts, ...intents);

    const missingCharges = new Set([3, 50, 99, 100, 101, 150, 199, 200, 201, 229].map((i) => charges[i]!.id));
    const missingRefund = refunds[104]!.id;
    const changedPayout = payouts[149]!;
    const events = [
      ...charges.filter((c) => !missingCharges.has(c.id)).map((c) => eventAbout('charge.succeeded', c)),
      ...ghosts.map((c) => eventAbout('charge.succeeded', c)),
      ...refunds.filter((r) => r.id !== missingRefund).map((r) => eventAbout('refund.created', r)),
      ...disputes.map((d) => eventAbout('charge.dispute.created', d)),
      ...payouts.map((p) => eventAbout('payout.created', p === changedPayout ? later(p, { amount: 9_999 }) : p)),
    ];
    await deliverAll(t, events);

    const mark = fake.requests.length;
    const res = await t.http.get('/api/ops/drift').query({ accountId: 'default', from: iso(base), to: iso(base + 1000) }).set(operator);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.checked, { paymentIntents: 110, charges: 230, refunds: 105, disputes: 101, payouts: 150 });
    assert.deepEqual(
      lines(res.body.differences),
      [
        ...[...missingCharges].map((id) => `charge ${id} missing_in_service amountCaptured: service null, stripe ${charges.find((c) => c.id === id)!.amount}`),
        ...ghosts.map((c) => `charge ${c.id} missing_at_stripe amountCaptured: service ${c.amount}, stripe null`),
        `refund ${missingRefund} missing_in_service amount: service null, stripe 204`,
        `payout ${changedPayout.id} different amount: service 9999, stripe 10149`,
      ].sort(),
    );
    const requests = listRequests(mark);
    assert.equal(res.body.apiCalls, requests.length);
    const pages = (path: string) => requests.filter((r) => r.path === path);
    assert.deepEqual(
      ['/v1/payment_intents', '/v1/charges', '/v1/refunds', '/v1/disputes', '/v1/payouts'].map((path) => pages(path).length),
      [2, 3, 2, 2, 2],
    );
    // Stripe's own pagination: each next page starts after the last object of the one before.
    const chargePages = pages('/v1/charges');
    assert.equal(chargePages[0]!.query.get('starting_after'), null);
    assert.equal(chargePages[1]!.query.get('starting_after'), [...charges].sort((x, y) => y.created - x.created || charges.indexOf(y) - charges.indexOf(x))[99]!.id);
  });

  it('as CSV, text Stripe or a signed event wrote cannot run as a spreadsheet formula', async () => {
    const base = nowS() - 5000;
    const hostile = intent({ id: '=HYPERLINK("https://evil.example","x")', amount: 2000, status: 'succeeded', invoiceId: '@SUM(1+1)', created: base });
    const negative = refund({ id: '-2+3', charge: charge({ amount: 900, intent: null, created: base }), amount: 900, created: base });
    fake.lists.put(defaultStripeAccount, hostile, negative);
    const res = await t.http.get('/api/ops/drift').query({ accountId: 'default', from: iso(base - 1), to: iso(base + 1), format: 'csv' }).set(operator).expect(200);
    const rows = parse(res.text, { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      rows.map((r) => [r.object, r.id, r.kind, r.stripe, r.invoice_id]),
      [
        ['payment_intent', `'=HYPERLINK("https://evil.example","x")`, 'missing_in_service', '2000', "'@SUM(1+1)"],
        ['refund', "'-2+3", 'missing_in_service', '900', ''],
      ],
    );
    // Every cell a spreadsheet would run starts with the apostrophe; numbers stay numbers.
    for (const cell of rows.flatMap((r) => Object.values(r))) assert.doesNotMatch(cell, /^[=+\-@\t\r]/, cell);
  });

  it('refuses bad input with a code and a message saying how to fix it', async () => {
    const cases: [Record<string, string>, number, string, RegExp][] = [
      [{}, 400, 'invalid_from', /from is required/],
      [{ from: 'yesterday' }, 400, 'invalid_from', /ISO date/],
      [{ from: '2d', to: '2026-13-45' }, 400, 'invalid_to', /ISO date/],
      [{ from: '1d', to: '2d' }, 400, 'invalid_range', /is after to .*swap them/],
      [{ from: '40d' }, 400, 'range_too_long', /at most 30 days \(this range is 40\): split it/],
      [{ from: '1d', accountId: 'acct_123' }, 400, 'invalid_account_id', /ma_ followed by 20 hex digits/],
      [{ from: '1d', accountId: 'ma_0123456789abcdef0123' }, 404, 'account_not_found', /GET \/api\/accounts lists them/],
      [{ from: '1d', format: 'xml' }, 400, 'invalid_format', /json .* or csv/],
      [{ from: '1d', repair: 'true' }, 400, 'repair_needs_post', /POST \/api\/ops\/drift\/repair/],
    ];
    for (const [query, status, code, message] of cases) {
      const res = await t.http.get('/api/ops/drift').query(query).set(operator);
      assert.equal(res.status, status, `${JSON.stringify(query)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, JSON.stringify(query));
      assert.match(res.body.error.message, message, JSON.stringify(query));
    }
    const repair = await t.http.post('/api/ops/drift/repair').send({ from: '1d', to: '2d' }).set(operator);
    assert.equal(repair.status, 400);
    assert.equal(repair.body.error.code, 'invalid_range');
  });

  it('billed-ops drift prints the differences as a table and a summary; --repair says what it recovered', async () => {
    const base = nowS() - 600;
    const lost = payout({ amount: 2500, status: 'pending', created: base });
    fake.lists.put(defaultStripeAccount, lost);
    fake.events.add(defaultStripeAccount, [eventAbout('payout.created', lost)]);
    const env = { BILLED_URL: t.baseUrl, BILLED_TOKEN: (await createToken(t, 'operator', 'drift-cli')).token };

    const run = await cli(['drift', '--account', 'default', '--from', iso(base - 1)], env);
    assert.equal(run.code, 0, run.stderr);
    const [header, row, ...rest] = run.stdout.split('\n');
    assert.match(header!, /^OBJECT\s+ID\s+DIFFERENCE\s+FIELD\s+SERVICE\s+STRIPE\s+CURRENCY\s+INVOICE$/);
    assert.match(row!, new RegExp(`^payout\\s+${lost.id}\\s+missing in the service\\s+amount\\s+-\\s+2500\\s+usd\\s+-$`));
    const summary = rest.join('\n');
    assert.match(summary, /^Account default, objects Stripe created \S+ – \S+\.$/m);
    assert.match(summary, /^Checked 0 payment intents, 0 charges, 0 refunds, 0 disputes, 1 payouts\.$/m);
    assert.match(summary, /^1 difference\(s\): 1 missing in the service\.$/m);
    assert.match(summary, /^5 Stripe API call\(s\) in [\d.]+ s\.$/m);
    assert.match(summary, /^To recover the events behind them: billed-ops drift --repair with the same range\.$/m);

    const repaired = await cli(['drift', '--account', 'default', '--from', iso(base - 1), '--repair'], env);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.match(repaired.stdout, /^Before: 1 difference\(s\)\.$/m);
    assert.match(repaired.stdout, /^Catch-up of \S+ – \S+ \(5 event types\): listed 1, new 1, already had 0\.$/m);
    assert.match(repaired.stdout, /^After: 0 still different\. \d+ Stripe API call\(s\) in all\. Audit #\d+\.$/m);
    assert.match(repaired.stdout, /^No differences: the service holds what Stripe lists\.$/m);

    const usage = await cli(['drift', '--from', '40d'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /range_too_long: A check covers at most 30 days/);
  });
});

/** Signed deliveries to the default endpoint, 16 at a time, then every one settled. */
async function deliverAll(t: TestService, events: Stripe.Event[]): Promise<void> {
  const [row] = await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events');
  await postAll(t, events);
  await allSettled(t, Number(row?.n) + events.length);
}
