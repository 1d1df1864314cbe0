import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { auth, deliverInOrder, getInvoice } from '../helpers/billing-client.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';
import { itemsSettled, reconciliationReport, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { mixedPayout, paidInvoice } from '../helpers/payout-scenarios.js';
import { uniqueId } from '../helpers/stripe-events.js';

type Row = { id: string; reconciliation: string; fees: number; net: number; amountRefunded: number };
const rowOf = (report: { invoices: Row[] }, id: string) => {
  const row = report.invoices.find((r) => r.id === id);
  assert.ok(row, `invoice ${id} is in the report`);
  return row;
};

async function csvRecord(rig: ReconciliationRig, id: string) {
  const res = await rig.t.http.get('/api/reconciliation/invoices').query({ format: 'csv' }).set(auth).buffer(true).parse((r, done) => {
    let text = '';
    r.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    r.on('end', () => done(null, text));
  });
  assert.equal(res.status, 200);
  const record = (parse(res.body as string, { columns: true }) as Record<string, string>[]).find((r) => r.id === id);
  assert.ok(record, `invoice ${id} is in the CSV`);
  return record;
}

/** Pays out `list` (the payout's own debit added) and waits for its items. */
async function payOut(rig: ReconciliationRig, list: ReturnType<typeof txns.charge>[]) {
  const amount = list.reduce((a, t) => a + t.net, 0);
  const payout = payoutEvents({ amount });
  rig.balance.set(payout.id, [txns.payout({ payoutId: payout.id, amount, id: payout.balanceTransactionId }), ...list]);
  await deliverInOrder(rig.t, [payout.event('payout.created'), payout.event('payout.paid')]);
  await itemsSettled(rig.t, payout.id);
  return payout;
}

describe("an invoice's net", function () {
  this.timeout(60_000);
  let rig: ReconciliationRig;
  before(async () => {
    rig = await startReconciliationRig('invnet');
  });
  after(() => rig.stop());

  it('refunded in full, with only charge.refunded known and the refund in no payout yet: net is minus the fee, and the invoice awaits payout', async () => {
    const invoice = await paidInvoice(rig, {
      amount: 48_100,
      fee: 1_522,
      extra: (pay) => [pay.charge('charge.refunded', { amountRefunded: 48_100 })],
    });
    await payOut(rig, invoice.txns);

    const row = rowOf(await reconciliationReport(rig.t), invoice.id);
    assert.deepEqual([row.amountRefunded, row.fees, row.net, row.reconciliation], [48_100, 1_522, -1_522, 'awaiting_payout']);
    const view = await getInvoice(rig.t, invoice.id);
    assert.deepEqual([view.net, view.reconciliation], [-1_522, 'awaiting_payout']);
    const record = await csvRecord(rig, invoice.id);
    assert.deepEqual([record.net, record.net_decimal, record.reconciliation], ['-1522', '-15.22', 'awaiting_payout']);

    // The refund's balance transaction goes out in the next payout (with a larger payment): now every movement is paid out.
    const refundId = uniqueId('re');
    const other = await paidInvoice(rig, { amount: 60_000, fee: 1_770 });
    await payOut(rig, [txns.refund({ refundId, chargeId: invoice.chargeId, paymentIntentId: invoice.paymentIntentId, amount: 48_100 }), ...other.txns]);
    const after = rowOf(await reconciliationReport(rig.t), invoice.id);
    assert.deepEqual([after.net, after.reconciliation], [-1_522, 'reconciled']);
  });

  it('a partial refund counts before it is paid out, and the dispute withdrawal with its fee once it is', async () => {
    const refundId = uniqueId('re');
    const invoice = await paidInvoice(rig, {
      amount: 10_000,
      fee: 320,
      extra: (pay) => [pay.refund('refund.created', { id: refundId, amount: 2_500, status: 'succeeded' }), pay.charge('charge.refunded', { amountRefunded: 2_500 })],
    });
    await payOut(rig, invoice.txns);
    let row = rowOf(await reconciliationReport(rig.t), invoice.id);
    assert.deepEqual([row.net, row.reconciliation], [10_000 - 2_500 - 320, 'awaiting_payout']);

    const { payout, invoices } = await mixedPayout(rig);
    await deliverInOrder(rig.t, [payout.event('payout.paid')]);
    await itemsSettled(rig.t, payout.id);
    const report = await reconciliationReport(rig.t);
    // 7,000 paid, 7,000 withdrawn by the dispute, 233 + 1,500 in fees.
    assert.deepEqual([rowOf(report, invoices.disputed.id).net, rowOf(report, invoices.disputed.id).reconciliation], [-1_733, 'reconciled']);
    row = rowOf(report, invoice.id);
    assert.equal(row.net, 7_180);
  });
});
