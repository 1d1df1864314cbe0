import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { auth, deliverInOrder, getInvoice } from '../helpers/billing-client.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';
import { getPayout, itemsSettled, reconciliationReport, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { mixedPayout, paidInvoice } from '../helpers/payout-scenarios.js';

type Row = { id: string; reconciliation: string; discrepancy: unknown; net: number; payouts: { id: string; status: string; arrivalDate: string; net: number; failureCode: string | null; repaidBy: string | null }[] };
const rowOf = (report: { invoices: Row[] }, id: string) => {
  const row = report.invoices.find((r) => r.id === id);
  assert.ok(row, `invoice ${id} is in the report`);
  return row;
};

async function csvRecords(rig: ReconciliationRig) {
  const res = await rig.t.http.get('/api/reconciliation/invoices').query({ format: 'csv' }).set(auth).buffer(true).parse((r, done) => {
    let text = '';
    r.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    r.on('end', () => done(null, text));
  });
  assert.equal(res.status, 200);
  return parse(res.body as string, { columns: true }) as Record<string, string>[];
}

describe('a payout that fails', function () {
  this.timeout(60_000);
  let rig: ReconciliationRig;
  before(async () => {
    rig = await startReconciliationRig('failedpo');
  });
  after(() => rig.stop());

  it("after it was paid, puts its invoices back to awaiting_payout; the later payout that pays the money again reconciles them", async () => {
    const { t } = rig;
    const { payout, amount, invoices } = await mixedPayout(rig, { arrivalDate: Date.UTC(2025, 9, 14) / 1000 });
    await deliverInOrder(t, [payout.event('payout.created'), payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);
    await deliverInOrder(t, [payout.event('payout.failed')]);

    const failed = await getPayout(t, payout.id);
    assert.deepEqual([failed.status, failed.failureCode, failed.failureMessage, failed.repaidBy], ['failed', 'account_closed', 'The bank account has been closed.', null]);
    const listed = (await t.http.get('/api/payouts').query({ status: 'failed' }).set(auth)).body.data.find((p: { id: string }) => p.id === payout.id);
    assert.deepEqual([listed.failureCode, listed.failureMessage], ['account_closed', 'The bank account has been closed.']);
    let report = await reconciliationReport(t);
    for (const invoice of Object.values(invoices)) {
      const row = rowOf(report, invoice.id);
      assert.deepEqual([row.reconciliation, row.discrepancy], ['awaiting_payout', null], `${invoice.number}: the money is back in the Stripe balance`);
      assert.deepEqual(row.payouts.map((p) => [p.id, p.status, p.failureCode]), [[payout.id, 'failed', 'account_closed']]);
    }

    // Stripe pays the money out again: the failed payout's payout_failure transaction, with a new card payment.
    const fresh = await paidInvoice(rig, { amount: 2_000, fee: 88 });
    const later = payoutEvents({ amount: amount + 2_000 - 88, arrivalDate: Date.UTC(2025, 9, 20) / 1000 });
    rig.balance.set(later.id, [
      txns.payout({ payoutId: later.id, amount: amount + 2_000 - 88, id: later.balanceTransactionId }),
      txns.payoutFailure({ failedPayoutId: payout.id, amount, id: payout.failureTransactionId }),
      ...fresh.txns,
    ]);
    await deliverInOrder(t, [later.event('payout.created'), later.event('payout.paid')]);
    await itemsSettled(t, later.id);

    const laterView = await getPayout(t, later.id);
    assert.deepEqual([laterView.difference, laterView.tieOut, laterView.reconciled], [0, 'ties_out', true]);
    assert.equal((await getPayout(t, payout.id)).repaidBy, later.id);
    report = await reconciliationReport(t);
    for (const invoice of Object.values(invoices)) {
      const row = rowOf(report, invoice.id);
      assert.equal(row.reconciliation, 'reconciled', `${invoice.number}: ${JSON.stringify(row.discrepancy)}`);
      assert.deepEqual(
        row.payouts.map((p) => [p.id, p.status, p.arrivalDate, p.repaidBy]),
        [
          [payout.id, 'failed', '2025-10-14', later.id],
          [later.id, 'paid', '2025-10-20', null],
        ],
      );
      assert.equal(row.payouts[1]!.net, row.net, 'the later payout carries the invoice’s whole net');
    }
    assert.equal(rowOf(report, fresh.id).reconciliation, 'reconciled');
    const invoice = await getInvoice(t, invoices.plain.id);
    assert.deepEqual([invoice.reconciliation, invoice.payouts.map((p: { id: string }) => p.id)], ['reconciled', [payout.id, later.id]]);

    const record = (await csvRecords(rig)).find((r) => r.id === invoices.plain.id)!;
    assert.deepEqual([record.reconciliation, record.payout_ids, record.payout_statuses], ['reconciled', `${payout.id} ${later.id}`, 'failed paid']);
  });

  it('before it was paid, shows Stripe’s failure code and message, and its invoices await payout', async () => {
    const { t } = rig;
    const invoice = await paidInvoice(rig, { amount: 3_000, fee: 117 });
    const payout = payoutEvents({ amount: 3_000 - 117 });
    rig.balance.set(payout.id, invoice.txns);
    await deliverInOrder(t, [payout.event('payout.created'), payout.event('payout.failed')]);
    const view = await getPayout(t, payout.id);
    assert.deepEqual([view.status, view.failureCode, view.failureMessage], ['failed', 'account_closed', 'The bank account has been closed.']);
    assert.equal(rowOf(await reconciliationReport(t), invoice.id).reconciliation, 'awaiting_payout');
  });
});
