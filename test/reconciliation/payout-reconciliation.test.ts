import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { auth, createInvoice, deliverInOrder, getInvoice, deliver, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';
import { getPayout, itemsSettled, reconciliationReport, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { mixedPayout, paidInvoice } from '../helpers/payout-scenarios.js';
import { formatMinor } from '../../src/billing/currencies.js';
import { SUBSCRIBED_EVENT_TYPES } from '../../src/events/subscribed-events.js';
import { bearer, createToken } from '../helpers/ops-client.js';

type Row = { id: string; currency: string; settlementCurrency: string | null; reconciliation: string; discrepancy: { reason: string; message: string } | null; fees: number; net: number; payouts: { id: string; arrivalDate: string }[] };
const rowOf = (report: { invoices: Row[] }, id: string) => {
  const row = report.invoices.find((r) => r.id === id);
  assert.ok(row, `invoice ${id} is in the report`);
  return row;
};

/** The JSON log lines about one payout whose message matches. */
const logsAbout = (logs: string[], payoutId: string, message: RegExp) =>
  logs
    .map((line) => JSON.parse(line) as { level: string; message: string; payoutId?: string; difference?: number; amount?: number; itemsNet?: number })
    .filter((line) => line.payoutId === payoutId && message.test(line.message));

describe('payout reconciliation', function () {
  this.timeout(60_000);
  let rig: ReconciliationRig;
  before(async () => {
    rig = await startReconciliationRig('recon');
    // Three at a time: a handful of items still takes several pages, as a big payout does.
    rig.balance.maxPageSize = 3;
  });
  after(() => rig.stop());

  it('subscribes to every payout event type', () => {
    for (const type of ['payout.created', 'payout.paid', 'payout.failed', 'payout.canceled', 'payout.reconciliation_completed']) {
      assert.ok(SUBSCRIBED_EVENT_TYPES.includes(type), type);
    }
  });

  it('a payout with charges, fees, a refund and a dispute ties out to the cent, and each invoice shows its share', async () => {
    const { t, balance } = rig;
    const scenario = await mixedPayout(rig, { arrivalDate: Date.UTC(2025, 9, 14) / 1000 });
    const { payout, invoices } = scenario;
    const pagesBefore = balance.pages.length;
    const results = await deliverInOrder(t, [payout.event('payout.created'), payout.event('payout.paid')]);
    assert.deepEqual(results.map((r) => r.status), ['processed', 'processed']);
    assert.equal((await itemsSettled(t, payout.id)).items_status, 'done');

    // All pages were read (7 transactions, 3 a page), each asking for expanded sources.
    const pages = balance.pages.slice(pagesBefore).filter((p) => p.payout === payout.id);
    assert.equal(pages.length, 3);
    assert.deepEqual(pages.map((p) => p.startingAfter === null), [true, false, false]);
    assert.ok(pages.every((p) => p.expanded && p.limit === 3));

    const view = await getPayout(t, payout.id);
    assert.equal(view.amount, 10_767);
    assert.equal(view.itemsNet, 10_767);
    assert.equal(view.difference, 0);
    assert.equal(view.reconciled, true);
    assert.equal(view.tieOut, 'ties_out');
    assert.deepEqual(logsAbout(t.logs, payout.id, /^payout (items stored|does not tie out)/).map((l) => [l.level, l.message]), [['info', 'payout items stored']]);
    assert.equal(view.arrivalDate, '2025-10-14');
    assert.equal(view.items.length, 6, "the payout's own transaction is not one of its items");
    assert.ok(!view.items.some((i: { type: string }) => i.type === 'payout'));
    const byInvoice = (id: string) => view.items.filter((i: { invoiceId: string }) => i.invoiceId === id);
    assert.deepEqual(byInvoice(invoices.plain.id).map((i: { type: string; amount: number; fee: number; net: number }) => [i.type, i.amount, i.fee, i.net]), [['charge', 10_000, 320, 9_680]]);
    assert.deepEqual(
      byInvoice(invoices.refunded.id).map((i: { reportingCategory: string; net: number }) => [i.reportingCategory, i.net]).sort(),
      [['charge', 4_825], ['refund', -2_000]],
    );
    const dispute = byInvoice(invoices.disputed.id).find((i: { reportingCategory: string }) => i.reportingCategory === 'dispute');
    assert.deepEqual([dispute.amount, dispute.fee, dispute.net, dispute.disputeId !== null], [-7_000, 1_500, -8_500, true]);
    const radar = view.items.find((i: { type: string }) => i.type === 'stripe_fee');
    assert.deepEqual([radar.net, radar.invoiceId], [-5, null]);

    const report = await reconciliationReport(t);
    for (const inv of Object.values(invoices)) {
      const row = rowOf(report, inv.id);
      assert.equal(row.reconciliation, 'reconciled', `${inv.number}: ${JSON.stringify(row.discrepancy)}`);
      assert.deepEqual(row.payouts.map((p) => [p.id, p.arrivalDate]), [[payout.id, '2025-10-14']]);
    }
    assert.deepEqual([rowOf(report, invoices.plain.id).fees, rowOf(report, invoices.plain.id).net], [320, 9_680]);
    assert.deepEqual([rowOf(report, invoices.refunded.id).fees, rowOf(report, invoices.refunded.id).net], [175, 2_825]);
    assert.deepEqual([rowOf(report, invoices.disputed.id).fees, rowOf(report, invoices.disputed.id).net], [1_733, -1_733]);

    // The invoice itself carries the same figures.
    const invoice = await getInvoice(t, invoices.refunded.id);
    assert.deepEqual([invoice.fees, invoice.net, invoice.reconciliation], [175, 2_825, 'reconciled']);
    assert.equal(invoice.payouts.length, 1);
    assert.deepEqual([invoice.payouts[0].id, invoice.payouts[0].arrivalDate, invoice.payouts[0].status, invoice.payouts[0].net], [payout.id, '2025-10-14', 'paid', 2_825]);
  });

  it('a payout that does not tie out is flagged with its exact difference, and so are the invoices it carried', async () => {
    const { t } = rig;
    const { payout, invoices, itemsNet } = await mixedPayout(rig, { skew: 123 });
    await deliverInOrder(t, [payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);

    const view = await getPayout(t, payout.id);
    assert.deepEqual([view.amount, view.itemsNet, view.difference, view.reconciled, view.tieOut], [itemsNet + 123, itemsNet, 123, false, 'does_not_tie_out']);
    const [warned, ...more] = logsAbout(t.logs, payout.id, /^payout (items stored|does not tie out)/);
    assert.deepEqual([warned?.level, warned?.message, warned?.difference, warned?.amount, warned?.itemsNet, more.length], ['warn', 'payout does not tie out: its items do not sum to its amount', 123, itemsNet + 123, itemsNet, 0]);
    const row = rowOf(await reconciliationReport(t), invoices.plain.id);
    assert.equal(row.reconciliation, 'discrepancy');
    assert.equal(row.discrepancy?.reason, 'does_not_tie_out');
    assert.match(row.discrepancy!.message, /difference 1\.23 USD/);

    const list = await t.http.get('/api/payouts').query({ status: 'paid' }).set(auth);
    const summary = list.body.data.find((p: { id: string }) => p.id === payout.id);
    assert.deepEqual([summary.difference, summary.itemCount, summary.tieOut], [123, 6, 'does_not_tie_out']);
  });

  it('a payout that fails after it was paid keeps its history, and its invoices await the payout that pays the money again', async () => {
    const { t } = rig;
    const { payout, invoices } = await mixedPayout(rig);
    await deliverInOrder(t, [payout.event('payout.created'), payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);
    assert.equal(rowOf(await reconciliationReport(t), invoices.plain.id).reconciliation, 'reconciled');

    await deliverInOrder(t, [payout.event('payout.failed')]);
    const view = await getPayout(t, payout.id);
    assert.equal(view.status, 'failed');
    assert.equal(view.failureCode, 'account_closed');
    assert.deepEqual(view.history.map((h: { status: string }) => h.status), ['pending', 'paid', 'failed']);
    assert.equal(view.reconciled, false, 'money that went back to the balance is not in the bank');
    const row = rowOf(await reconciliationReport(t, { reconciliation: 'awaiting_payout' }), invoices.plain.id);
    assert.equal(row.discrepancy, null);
  });

  it('tells unpaid, awaiting payout, currency mismatch and unmatched payments apart', async () => {
    const { t } = rig;
    const unpaid = await createInvoice(t, { amountDue: 4_200 });
    const awaiting = await paidInvoice(rig, { amount: 3_000, fee: 117 });
    const euros = await createInvoice(t, { amountDue: 2_500, currency: 'eur' });
    const dollars = paymentEvents({ invoiceId: euros.id, amount: 2_500, currency: 'usd' });
    await deliverInOrder(t, [dollars.paymentIntent('payment_intent.succeeded')]);
    const orphan = paymentEvents({ invoiceId: null, amount: 990 });
    await deliverInOrder(t, [orphan.paymentIntent('payment_intent.succeeded'), orphan.charge('charge.succeeded')]);
    const payout = payoutEvents({ amount: 990 - 59 });
    rig.balance.set(payout.id, [txns.charge({ chargeId: orphan.chargeId, paymentIntentId: orphan.paymentIntentId, amount: 990, fee: 59 })]);
    await deliverInOrder(t, [payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);

    const report = await reconciliationReport(t);
    assert.equal(rowOf(report, unpaid.id).reconciliation, 'unpaid');
    assert.equal(rowOf(report, awaiting.id).reconciliation, 'awaiting_payout');
    assert.deepEqual(rowOf(report, euros.id).discrepancy?.reason, 'currency_mismatch');
    const unmatched = report.unmatchedPayments.find((p: { id: string }) => p.id === orphan.paymentIntentId);
    assert.ok(unmatched, 'the payment without an invoice is listed');
    assert.deepEqual([unmatched.unmatchedReason, unmatched.amountReceived, unmatched.fees, unmatched.net, unmatched.payouts[0].id], ['no_invoice_reference', 990, 59, 931, payout.id]);

    // Attention first: every discrepancy before any awaiting payout, those before unpaid, reconciled last.
    const ranks = report.invoices.map((r: Row) => ['discrepancy', 'awaiting_payout', 'unpaid', 'reconciled'].indexOf(r.reconciliation));
    assert.deepEqual(ranks, [...ranks].sort((a: number, b: number) => a - b));

    // Filters: currency and invoice status narrow the rows and the totals alike.
    const eur = await reconciliationReport(t, { currency: 'EUR' });
    assert.deepEqual(eur.invoices.map((r: Row) => r.id), [euros.id]);
    assert.deepEqual(eur.totals.map((x: { currency: string; invoices: number }) => [x.currency, x.invoices]), [['eur', 1]]);
    const open = await reconciliationReport(t, { status: 'open' });
    assert.ok(open.invoices.some((r: Row) => r.id === unpaid.id));
    assert.ok(!open.invoices.some((r: Row) => r.id === awaiting.id));
    const future = await reconciliationReport(t, { from: '2999-01-01' });
    assert.deepEqual([future.invoiceCount, future.totals], [0, []]);
  });

  it('per-currency totals add up the rows; fees and net count in the currency the money settled in', async () => {
    const { t } = rig;
    // A EUR invoice whose money Stripe converted and paid out in USD.
    const euros = await createInvoice(t, { amountDue: 2_000, currency: 'eur' });
    const pay = paymentEvents({ invoiceId: euros.id, amount: 2_000, currency: 'eur' });
    await deliverInOrder(t, [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]);
    const payout = payoutEvents({ amount: 2_150 - 92 });
    rig.balance.set(payout.id, [txns.charge({ chargeId: pay.chargeId, paymentIntentId: pay.paymentIntentId, amount: 2_150, fee: 92, currency: 'usd' })]);
    await deliverInOrder(t, [payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);

    const report = await reconciliationReport(t, { limit: '5000' });
    assert.equal(report.truncated, false);
    const converted = rowOf(report, euros.id) as Row;
    assert.deepEqual([converted.currency, converted.settlementCurrency, converted.fees, converted.net], ['eur', 'usd', 92, 2_058]);
    // No money left out: every row's fees and net are in exactly one currency's totals.
    const all = (items: { fees: number; net: number }[]) => [items.reduce((a, r) => a + r.fees, 0), items.reduce((a, r) => a + r.net, 0)];
    assert.deepEqual(all(report.totals), all(report.invoices));
    for (const total of report.totals) {
      const rows = report.invoices.filter((r: { currency: string }) => r.currency === total.currency);
      assert.equal(total.invoices, rows.length);
      assert.equal(total.amountPaid, rows.reduce((a: number, r: { amountPaid: number }) => a + r.amountPaid, 0));
      const counted = report.invoices.filter((r: Row) => (r.settlementCurrency ?? r.currency) === total.currency);
      assert.equal(total.fees, counted.reduce((a: number, r: Row) => a + r.fees, 0));
      assert.equal(total.net, counted.reduce((a: number, r: Row) => a + r.net, 0));
      const counts = Object.values(total.reconciliation as Record<string, number>).reduce((a, b) => a + b, 0);
      assert.equal(counts, rows.length);
    }
  });

  it('?format=csv gives the same rows, minor units and decimals, properly quoted, that parse back to the same numbers', async () => {
    const { t } = rig;
    const { payout } = await mixedPayout(rig, { skew: -7, numbers: ['INV "7", part 2', '=1+1', `INV-${Date.now()}-multi\nline`] });
    await deliverInOrder(t, [payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);

    const json = await reconciliationReport(t, { limit: '5000' });
    const res = await t.http.get('/api/reconciliation/invoices').query({ format: 'csv' }).set(auth).buffer(true).parse((r, done) => {
      let text = '';
      r.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      r.on('end', () => done(null, text));
    });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type']!, /^text\/csv/);
    assert.match(res.headers['content-disposition']!, /attachment; filename="?reconciliation-\d{4}-\d{2}-\d{2}\.csv/);
    const text = res.body as string;
    assert.ok(text.endsWith('\r\n') && text.split('\r\n').length > 3, 'CRLF line ends');
    const records = parse(text, { columns: true, relax_quotes: false }) as Record<string, string>[];
    const invoiceRecords = records.filter((r) => r.record_type === 'invoice');
    assert.equal(invoiceRecords.length, json.invoiceCount);

    for (const row of json.invoices as (Row & Record<string, never>)[]) {
      const record = invoiceRecords.find((r) => r.id === row.id);
      assert.ok(record, `invoice ${row.id} is in the CSV`);
      const r = record!;
      assert.equal(r.reconciliation, row.reconciliation);
      assert.equal(r.discrepancy_reason, row.discrepancy?.reason ?? '');
      const settlement = (row as unknown as { settlementCurrency: string | null }).settlementCurrency ?? (row as unknown as { currency: string }).currency;
      for (const [column, value, currency] of [
        ['amount_due', (row as unknown as { amountDue: number }).amountDue, (row as unknown as { currency: string }).currency],
        ['amount_paid', (row as unknown as { amountPaid: number }).amountPaid, (row as unknown as { currency: string }).currency],
        ['amount_refunded', (row as unknown as { amountRefunded: number }).amountRefunded, (row as unknown as { currency: string }).currency],
        ['fees', row.fees, settlement],
        ['net', row.net, settlement],
      ] as const) {
        assert.equal(Number(r[column]), value, `${column} of ${row.id}`);
        assert.equal(r[`${column}_decimal`], formatMinor(value, currency));
        // The decimal reads back to the same minor units.
        assert.equal(Math.round(Number(r[`${column}_decimal`]) * 10 ** (currency === 'jpy' ? 0 : 2)), value);
      }
      assert.equal(r.payout_ids, row.payouts.map((p) => p.id).join(' '));
      assert.equal(r.payout_arrival_dates, row.payouts.map((p) => p.arrivalDate).join(' '));
    }
    // Quoting survived: commas, quotes and line breaks come back intact; a formula does not run.
    const numbers = invoiceRecords.map((r) => r.invoice_number ?? '');
    assert.ok(numbers.includes('INV "7", part 2'));
    assert.ok(numbers.some((n) => n.endsWith('-multi\nline')));
    assert.ok(numbers.includes("'=1+1"));
    const skewed = invoiceRecords.find((r) => r.payout_ids === payout.id && r.reconciliation === 'discrepancy');
    assert.ok(skewed, 'the skewed payout shows in the CSV as a discrepancy');
    assert.match(skewed!.discrepancy_detail!, /difference -0\.07 USD/);
    assert.ok(records.some((r) => r.record_type === 'unmatched_payment'));
  });

  it('needs an accountant (or admin) token, refuses other roles, and rejects bad filters with a code', async () => {
    const { t } = rig;
    for (const path of ['/api/payouts', '/api/payouts/po_x', '/api/reconciliation/invoices']) {
      const res = await t.http.get(path);
      assert.equal(res.status, 401, path);
      assert.equal(res.body.error.code, 'unauthorized');
    }
    const accountant = await createToken(t, 'accountant');
    const operator = await createToken(t, 'operator');
    for (const path of ['/api/payouts', '/api/reconciliation/invoices', '/api/reconciliation/invoices?format=csv']) {
      assert.equal((await t.http.get(path).set(bearer(accountant.token))).status, 200, `accountant may read ${path}`);
      const denied = await t.http.get(path).set(bearer(operator.token));
      assert.deepEqual([denied.status, denied.body.error?.code], [403, 'forbidden'], `operator may not read ${path}`);
    }
    const bad = await t.http.get('/api/reconciliation/invoices').query({ currency: 'xx1' }).set(auth);
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'invalid_currency']);
    const missing = await t.http.get('/api/payouts/po_missing').set(auth);
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'payout_not_found']);
  });

  it('a fetch that fails is retried, and fetching again stores each transaction once', async () => {
    const { t, balance } = rig;
    const { payout, items } = await mixedPayout(rig);
    // stripe-node retries twice itself; four failures make the first job attempt fail too.
    balance.failNext = 4;
    await deliverInOrder(t, [payout.event('payout.paid')]);
    const state = await itemsSettled(t, payout.id, 30_000);
    assert.equal(state.items_status, 'done');
    assert.equal(balance.failNext, 0);
    assert.ok(t.logs.some((line) => line.includes('payout items fetch failed; will retry') && line.includes(payout.id)));

    await deliverInOrder(t, [payout.event('payout.reconciliation_completed')]);
    const again = await itemsSettled(t, payout.id);
    assert.equal(again.items_fetched_gen, 2, 'reconciliation_completed fetched the final list again');
    const [count] = await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM payout_items WHERE payout_id = ?', [payout.id]);
    assert.equal(Number(count?.n), items.length);
    assert.equal((await getPayout(t, payout.id)).difference, 0);
  });

  it('a fetch that failed for good is fetched again by replaying the payout event, once Stripe answers', async () => {
    const { t, balance } = rig;
    const { payout, items } = await mixedPayout(rig);
    // More failures than every job attempt (each with stripe-node's own retries) can use up.
    balance.failNext = 1_000;
    const paid = payout.event('payout.paid');
    await deliverInOrder(t, [paid]);
    const failed = await itemsSettled(t, payout.id, 30_000);
    assert.deepEqual([failed.items_status, failed.items_fetched_gen], ['failed', 0]);
    assert.equal((await getPayout(t, payout.id)).tieOut, 'fetch_failed');
    const levels = logsAbout(t.logs, payout.id, /^payout items fetch failed/).map((l) => `${l.level}: ${l.message}`);
    assert.equal(levels.at(-1), 'error: payout items fetch failed; retries exhausted', 'failed for good is an error');
    assert.ok(levels.slice(0, -1).every((l) => l === 'warn: payout items fetch failed; will retry'), levels.join('\n'));

    balance.failNext = 0;
    const replay = await t.http.post(`/api/ops/events/${paid.id}/replay`).set(auth);
    assert.equal(replay.status, 202);
    assert.equal((await settled(t, paid.id)).status, 'processed');
    const fetched = await itemsSettled(t, payout.id, 30_000);
    assert.deepEqual([fetched.items_status, fetched.items_fetched_gen], ['done', 2]);
    const view = await getPayout(t, payout.id);
    assert.deepEqual([view.items.length, view.difference], [items.length, 0]);
    // A replay after a fetch that worked asks for nothing more.
    await t.http.post(`/api/ops/events/${paid.id}/replay`).set(auth).expect(202);
    const again = await settled(t, paid.id);
    assert.deepEqual([again.status, again.reason], ['ignored', 'stale']);
    assert.equal((await itemsSettled(t, payout.id)).items_requested_gen, 2);
  });

  it('an older event retrying a failed fetch does not become the event that asked', async () => {
    const { t, balance } = rig;
    const { payout } = await mixedPayout(rig);
    balance.failNext = 1_000;
    const paid = payout.event('payout.paid');
    const completed = payout.event('payout.reconciliation_completed');
    await deliverInOrder(t, [paid, completed]);
    assert.equal((await itemsSettled(t, payout.id, 30_000)).items_status, 'failed');

    balance.failNext = 0;
    await t.http.post(`/api/ops/events/${paid.id}/replay`).set(auth).expect(202);
    assert.equal((await settled(t, paid.id)).status, 'processed');
    assert.equal((await itemsSettled(t, payout.id, 30_000)).items_status, 'done');
    const [row] = await t.query<{ items_requested_event_id: string }>('SELECT items_requested_event_id FROM payouts WHERE id = ?', [payout.id]);
    assert.equal(row?.items_requested_event_id, completed.id);
    // So replaying the newer event, already seen, asks for nothing more.
    await t.http.post(`/api/ops/events/${completed.id}/replay`).set(auth).expect(202);
    const again = await settled(t, completed.id);
    assert.deepEqual([again.status, again.reason], ['ignored', 'stale']);
  });

  it('when Stripe no longer lists a transaction, the next fetch drops it', async () => {
    const { t, balance } = rig;
    const { payout, items, amount } = await mixedPayout(rig);
    await deliverInOrder(t, [payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);
    balance.set(payout.id, items.slice(1));
    await deliverInOrder(t, [payout.event('payout.reconciliation_completed')]);
    await itemsSettled(t, payout.id);
    const view = await getPayout(t, payout.id);
    assert.equal(view.items.length, items.length - 1);
    assert.equal(view.difference, amount - items.slice(1).reduce((a, i) => a + i.net, 0));
  });

  it('a manual payout is stored but not fetched: Stripe lists transactions by payout only for automatic ones', async () => {
    const { t, balance } = rig;
    const payout = payoutEvents({ amount: 5_000, automatic: false });
    const before = balance.pages.length;
    await deliverInOrder(t, [payout.event('payout.paid')]);
    const view = await getPayout(t, payout.id);
    assert.deepEqual([view.status, view.tieOut, view.itemsNet, view.difference, view.reconciled], ['paid', 'not_applicable', null, null, false]);
    assert.equal(balance.pages.slice(before).filter((p) => p.payout === payout.id).length, 0);
  });

  it('items fetched before the payment events arrive link to the invoice once they do', async () => {
    const { t } = rig;
    const invoice = await createInvoice(t, { amountDue: 1_234 });
    const pay = paymentEvents({ invoiceId: invoice.id, amount: 1_234 });
    const payout = payoutEvents({ amount: 1_234 - 66 });
    rig.balance.set(payout.id, [txns.charge({ chargeId: pay.chargeId, paymentIntentId: pay.paymentIntentId, amount: 1_234, fee: 66 })]);
    await deliverInOrder(t, [payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);
    const early = (await getPayout(t, payout.id)).items[0];
    assert.deepEqual([early.paymentId, early.invoiceId], [pay.paymentIntentId, null]);

    await deliverInOrder(t, [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]);
    assert.equal((await getPayout(t, payout.id)).items[0].invoiceId, invoice.id);
    const invoiceView = await getInvoice(t, invoice.id);
    assert.equal(invoiceView.reconciliation, 'reconciled');
    assert.deepEqual([invoiceView.fees, invoiceView.net, invoiceView.payouts[0]?.id], [66, 1_168, payout.id]);
  });

  it('sources Stripe did not expand are linked through the stored charge, refund and dispute', async () => {
    const { t, balance } = rig;
    const { payout, invoices } = await mixedPayout(rig);
    balance.expandSources = false;
    try {
      await deliverInOrder(t, [payout.event('payout.paid')]);
      await itemsSettled(t, payout.id);
    } finally {
      balance.expandSources = true;
    }
    const view = await getPayout(t, payout.id);
    const linked = view.items.filter((i: { invoiceId: string | null }) => i.invoiceId !== null);
    assert.equal(linked.length, 5, 'three charges, a refund and a dispute');
    const report = await reconciliationReport(t);
    for (const inv of Object.values(invoices)) assert.equal(rowOf(report, inv.id).reconciliation, 'reconciled');
  });

  it('marks a repeated, older payout event stale', async () => {
    const { t } = rig;
    const payout = payoutEvents({ amount: 100 });
    rig.balance.set(payout.id, [txns.stripeFee({ amount: -100 })]);
    const created = payout.event('payout.created');
    await deliverInOrder(t, [created, payout.event('payout.paid')]);
    const resent = { ...structuredClone(created), id: `${created.id}_again` };
    await deliver(t, resent);
    const result = await settled(t, resent.id);
    assert.deepEqual([result.status, result.reason], ['ignored', 'stale']);
  });
});
