import assert from 'node:assert/strict';
import os from 'node:os';
import { deliverInOrder } from '../helpers/billing-client.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns, type FakeTxn } from '../helpers/fake-balance-transactions.js';
import { getPayout, itemsSettled, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';

const ITEMS = 10_000;

describe('payout reconciliation at scale', function () {
  this.timeout(300_000);
  let rig: ReconciliationRig;
  before(async () => {
    rig = await startReconciliationRig('payout_scale');
  });
  after(() => rig.stop());

  it(`a payout with ${ITEMS.toLocaleString('en')} balance transactions reconciles page by page, in batches, to the cent`, async () => {
    const { t, balance } = rig;
    const payout = payoutEvents({ amount: 0 });
    // The transactions are made on demand, page by page, so the fake holds none of them: what memory the run takes is the service's.
    const charge = (i: number, id: string): FakeTxn => ({
      ...txns.charge({ chargeId: `ch_scale_${i}`, paymentIntentId: `pi_scale_${i}`, amount: 1_000 + (i % 500), fee: 30 + (i % 7) }),
      id,
    });
    let amount = 0;
    for (let i = 1; i <= ITEMS; i++) amount += charge(i, '').net;
    const scaled = payoutEvents({ amount, id: payout.id });
    balance.generate(payout.id, ITEMS + 1, `txn_scale_${payout.id}`, (i, id) =>
      i === 0 ? txns.payout({ payoutId: payout.id, amount, id: scaled.balanceTransactionId }) : charge(i, id),
    );

    global.gc?.();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 10);
    const started = Date.now();
    await deliverInOrder(t, [scaled.event('payout.paid')]);
    const state = await itemsSettled(t, payout.id, 240_000);
    const elapsedMs = Date.now() - started;
    clearInterval(sampler);

    assert.equal(state.items_status, 'done');
    const view = await getPayout(t, payout.id);
    assert.deepEqual([view.itemCount, view.items.length, view.itemsNet, view.difference, view.reconciled], [ITEMS, ITEMS, amount, 0, true]);

    // Streamed: 101 pages of at most 100, each after the last one's final id; items were in the database before the last page was asked for.
    const pages = balance.pages.filter((p) => p.payout === payout.id);
    assert.equal(pages.length, Math.ceil((ITEMS + 1) / 100));
    assert.ok(pages.every((p) => p.limit === 100 && p.returned <= 100));
    assert.ok(pages.slice(1).every((p, i) => p.startingAfter === `txn_scale_${payout.id}_${(i + 1) * 100 - 1}`));
    const [first] = await t.query<{ at: Date }>('SELECT MIN(stored_at) AS at FROM payout_items WHERE payout_id = ?', [payout.id]);
    assert.ok(first!.at.getTime() < pages[pages.length - 1]!.at, 'the first batch was stored while pages were still being listed');

    const jobLine = t.logs.map((line) => JSON.parse(line) as { message: string; payoutId?: string; ms?: number }).find((l) => l.message === 'payout items stored' && l.payoutId === payout.id);
    const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
    console.log(
      `      ${ITEMS} items: ${elapsedMs} ms from payout.paid to tied out (job ${jobLine?.ms} ms); heap peak +${Math.round((peak - baseline) / 1e6)} MB; ` +
        `${os.cpus().length} × ${cpu}, node ${process.version}`,
    );
    // Generous: this takes a few seconds on a 2-core machine; a per-row insert or an unbounded buffer would blow through it.
    assert.ok(elapsedMs < 120_000, `took ${elapsedMs} ms`);
    assert.ok(peak - baseline < 512e6, `heap grew by ${peak - baseline} bytes`);
  });
});
