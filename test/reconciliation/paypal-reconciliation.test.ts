import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { auth } from '../helpers/billing-client.js';
import { startFakePaypal, type FakePaypal } from '../helpers/fake-paypal.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { connectPaypal, type PaypalMerchant } from '../helpers/paypal-merchant.js';
import { captureResource, paypalEvent, paypalId, refundResource } from '../helpers/paypal-events.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';
import { itemsSettled, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { scopedToken } from '../helpers/account-scopes.js';
import { CSV_HEADER } from '../../src/reconciliation/reconciliation.csv.js';

type Row = Record<string, unknown> & {
  id: string;
  reconciliation: string;
  discrepancy: { reason: string; message: string } | null;
  gross: number;
  fees: number;
  net: number;
  settlementCurrency: string | null;
  gateways: string[];
  payments: { id: string; gateway: string; settlement: string; currency: string; amountReceived: number; fee: number | null; net: number | null }[];
  stripe: { gross: number; fees: number; net: number; settlementCurrency: string | null } | null;
  paypal: { settlement: string; currency: string; gross: number; fees: number; net: number; awaiting: string | null } | null;
  payouts: { id: string; status: string }[];
};

/**
 * Issue 17's reconciliation: PayPal's money sits in the merchant's PayPal balance less PayPal's fee,
 * so a PayPal-paid invoice is reconciled once PayPal's breakdowns account for it (no payout to
 * wait for); an invoice paid half by card and half by PayPal once the card half is in a paid payout
 * too. The accountant sees both gateways in one report, CSV and totals.
 */
describe('PayPal in the reconciliation', function () {
  this.timeout(120_000);
  let paypal: FakePaypal;
  let rig: ReconciliationRig;
  let card: Merchant;
  let pp: PaypalMerchant;

  before(async () => {
    paypal = await startFakePaypal();
    rig = await startReconciliationRig('pprec', { PAYPAL_API_BASE: paypal.url, PUBLIC_BASE_URL: 'https://billing.example.test' });
    card = await connectMerchant(rig.t, rig.fake, 'Acme Plumbing');
    pp = await connectPaypal(rig.t, paypal, card.accountId);
  });
  after(async () => {
    await rig?.stop();
    await paypal?.stop();
  });

  const report = async (query: Record<string, string> = {}, headers: Record<string, string> = auth) => {
    const res = await rig.t.http.get('/api/reconciliation/invoices').query({ limit: '5000', ...query }).set(headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { invoices: Row[]; totals: Record<string, unknown>[]; totalsByGateway: Record<string, unknown>[]; unmatchedPayments: Record<string, unknown>[] };
  };
  const rowOf = async (id: string) => {
    const row = (await report()).invoices.find((r) => r.id === id);
    assert.ok(row, `invoice ${id} is in the report`);
    return row;
  };
  const csv = async (headers: Record<string, string> = auth) => {
    const res = await rig.t.http.get('/api/reconciliation/invoices').query({ format: 'csv', limit: '5000' }).set(headers).buffer(true).parse((r, done) => {
      let text = '';
      r.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      r.on('end', () => done(null, text));
    });
    assert.equal(res.status, 200);
    return res.body as string;
  };
  const csvRecord = async (id: string) => {
    const record = (parse(await csv(), { columns: true }) as Record<string, string>[]).find((r) => r.id === id);
    assert.ok(record, `invoice ${id} is in the CSV`);
    return record;
  };
  /** A PayPal capture for `invoiceId`, delivered and processed. */
  const capture = async (o: { invoiceId: string; value: string; currency?: string; fee?: string; net?: string; id?: string; created?: Date; via?: PaypalMerchant }) => {
    const id = o.id ?? paypalId();
    const event = paypalEvent('PAYMENT.CAPTURE.COMPLETED', captureResource({ id, value: o.value, currency: o.currency, customId: o.invoiceId, fee: o.fee, net: o.net, created: o.created }));
    assert.equal((await (o.via ?? pp).deliver(event as { id: string })).status, 'processed');
    return id;
  };
  const refund = async (o: { invoiceId: string; captureId: string; value: string; fee?: string; net?: string; status?: 'COMPLETED' | 'PENDING' }) => {
    const event = paypalEvent('PAYMENT.CAPTURE.REFUNDED', refundResource({ value: o.value, captureId: o.captureId, customId: o.invoiceId, fee: o.fee, net: o.net, status: o.status }));
    assert.equal((await pp.deliver(event as { id: string })).status, 'processed');
  };
  /** A card payment of `amount` for `invoiceId` on `merchant`'s Stripe account (events delivered and processed); its balance transaction for a later payout. */
  const payByCard = async (merchant: Merchant, invoiceId: string, amount: number, fee: number) => {
    const pay = paymentEvents({ invoiceId, amount });
    for (const event of [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]) {
      await merchant.deliver(event);
      assert.equal((await merchant.settled(event.id)).status, 'processed');
    }
    return txns.charge({ chargeId: pay.chargeId, paymentIntentId: pay.paymentIntentId, amount, fee });
  };
  /** A payout of `list` on `merchant`'s account: created (in transit), then, with `paid`, paid and its items fetched. */
  const payOut = async (merchant: Merchant, list: ReturnType<typeof txns.charge>[]) => {
    const amount = list.reduce((a, t) => a + t.net, 0);
    const payout = payoutEvents({ amount });
    rig.balance.set(payout.id, [txns.payout({ payoutId: payout.id, amount, id: payout.balanceTransactionId }), ...list]);
    const send = async (type: 'payout.created' | 'payout.paid') => {
      const event = payout.event(type);
      await merchant.deliver(event);
      assert.equal((await merchant.settled(event.id)).status, 'processed');
    };
    await send('payout.created');
    return {
      id: payout.id,
      async paid() {
        await send('payout.paid');
        await itemsSettled(rig.t, payout.id);
      },
    };
  };

  it('a PayPal-paid invoice is reconciled with PayPal\'s fee and net to the cent, settled in the PayPal balance (no payout)', async () => {
    const invoiceId = await card.invoice(1099);
    const captureId = await capture({ invoiceId, value: '10.99', fee: '0.62', net: '10.37' });
    const row = await rowOf(invoiceId);
    assert.equal(row.reconciliation, 'reconciled', JSON.stringify(row.discrepancy));
    assert.deepEqual([row.gross, row.fees, row.net, row.settlementCurrency], [1099, 62, 1037, 'usd']);
    assert.deepEqual(row.gateways, ['paypal']);
    assert.deepEqual(row.payments, [{ id: captureId, gateway: 'paypal', settlement: 'in_paypal_balance', currency: 'usd', amountReceived: 1099, fee: 62, net: 1037 }]);
    assert.deepEqual(row.paypal, { settlement: 'in_paypal_balance', currency: 'usd', gross: 1099, fees: 62, net: 1037, awaiting: null });
    assert.deepEqual([row.stripe, row.payouts], [null, []]);
    // The invoice itself says the same, and its payment carries PayPal's breakdown.
    const invoice = (await rig.t.http.get(`/api/invoices/${invoiceId}`).set(auth)).body;
    assert.deepEqual([invoice.status, invoice.reconciliation, invoice.fees, invoice.net], ['paid', 'reconciled', 62, 1037]);
    assert.deepEqual([invoice.payments[0].fee, invoice.payments[0].net, invoice.paypal.net], [62, 1037, 1037]);
  });

  it('in JPY (no minor unit): ¥12,345 less a ¥456 fee is ¥11,889, exactly', async () => {
    const invoiceId = await card.invoice(12_345, 'jpy');
    await capture({ invoiceId, value: '12345', currency: 'JPY', fee: '456', net: '11889' });
    const row = await rowOf(invoiceId);
    assert.equal(row.reconciliation, 'reconciled', JSON.stringify(row.discrepancy));
    assert.deepEqual([row.gross, row.fees, row.net, row.settlementCurrency], [12_345, 456, 11_889, 'jpy']);
    const record = await csvRecord(invoiceId);
    assert.deepEqual(
      [record.gateways, record.paypal_currency, record.paypal_gross, record.paypal_fees, record.paypal_fees_decimal, record.paypal_net, record.paypal_net_decimal],
      ['paypal', 'jpy', '12345', '456', '456', '11889', '11889'],
    );
  });

  it('a partial refund: PayPal gives part of its fee back; gross, fees and net net of it, and the refund needs no payout either', async () => {
    const invoiceId = await card.invoice(10_000);
    const captureId = await capture({ invoiceId, value: '100.00', fee: '3.49', net: '96.51' });
    await refund({ invoiceId, captureId, value: '40.00', fee: '1.20', net: '38.80' });
    const row = await rowOf(invoiceId);
    assert.equal(row.reconciliation, 'reconciled', JSON.stringify(row.discrepancy));
    assert.deepEqual([row.gross, row.fees, row.net], [6_000, 229, 5_771]);
    assert.deepEqual([row.paypal?.gross, row.paypal?.fees, row.paypal?.net], [6_000, 229, 5_771]);
    assert.equal(row.status, 'partially_refunded');
  });

  it('a capture or a refund whose breakdown is not known yet is not reconciled (awaiting_payout, saying what is awaited) until it arrives', async () => {
    const invoiceId = await card.invoice(2_500);
    const captureId = paypalId();
    await capture({ invoiceId, id: captureId, value: '25.00' });
    let row = await rowOf(invoiceId);
    assert.equal(row.reconciliation, 'awaiting_payout');
    assert.match(row.paypal?.awaiting ?? '', new RegExp(`${captureId}: its fee and net \\(seller_receivable_breakdown\\) are not known yet`));
    assert.deepEqual([row.gross, row.fees, row.net], [2_500, 0, 2_500], 'the fee counts once PayPal says it');
    // The same capture again, as PayPal renders it later with its breakdown (an event of its own).
    await capture({ invoiceId, id: captureId, value: '25.00', fee: '1.02', net: '23.98', created: new Date(Date.now() + 1000) });
    row = await rowOf(invoiceId);
    assert.equal(row.reconciliation, 'reconciled', JSON.stringify(row.paypal));
    await refund({ invoiceId, captureId, value: '5.00', status: 'PENDING' });
    assert.equal((await rowOf(invoiceId)).reconciliation, 'awaiting_payout', 'a pending refund is not accounted for');
  });

  it('a breakdown that does not add up (gross − fee ≠ net) is a discrepancy that says so', async () => {
    const invoiceId = await card.invoice(1_000);
    const captureId = await capture({ invoiceId, value: '10.00', fee: '0.59', net: '9.40' });
    const row = await rowOf(invoiceId);
    assert.equal(row.reconciliation, 'discrepancy');
    assert.deepEqual(row.discrepancy, { reason: 'amount_mismatch', message: `PayPal capture ${captureId}: 10.00 USD less its fee 0.59 USD is not its net 9.40 USD` });
  });

  describe('an invoice paid half by card and half by PayPal', () => {
    let invoiceId: string;
    let captureId: string;
    let payout: Awaited<ReturnType<typeof payOut>>;

    before(async () => {
      invoiceId = await card.invoice(2_000);
      const cardTxn = await payByCard(card, invoiceId, 1_000, 59);
      captureId = await capture({ invoiceId, value: '10.00', fee: '0.64', net: '9.36' });
      payout = await payOut(card, [cardTxn]);
    });

    it('is paid, and awaits the card half\'s payout (in transit) though the PayPal half is in the balance', async () => {
      const row = await rowOf(invoiceId);
      assert.deepEqual([row.status, row.reconciliation], ['paid', 'awaiting_payout']);
      assert.deepEqual(row.gateways, ['paypal', 'stripe']);
      assert.deepEqual(row.paypal, { settlement: 'in_paypal_balance', currency: 'usd', gross: 1_000, fees: 64, net: 936, awaiting: null });
    });

    it('is reconciled once the payout is paid: gross, fees and net of both gateways, each payment with its gateway and where it settled', async () => {
      await payout.paid();
      const row = await rowOf(invoiceId);
      assert.equal(row.reconciliation, 'reconciled', JSON.stringify(row.discrepancy));
      assert.deepEqual([row.gross, row.fees, row.net, row.settlementCurrency], [2_000, 59 + 64, 941 + 936, 'usd']);
      assert.deepEqual(row.stripe, { gross: 1_000, fees: 59, net: 941, settlementCurrency: 'usd' });
      assert.deepEqual([row.paypal?.gross, row.paypal?.fees, row.paypal?.net], [1_000, 64, 936]);
      assert.deepEqual(
        row.payments.map((p) => [p.gateway, p.settlement, p.amountReceived, p.fee, p.net]).sort(),
        [['paypal', 'in_paypal_balance', 1_000, 64, 936], ['stripe', 'stripe_payout', 1_000, 59, 941]],
      );
      assert.ok(row.payments.some((p) => p.id === captureId));
      assert.deepEqual(row.payouts.map((p) => [p.id, p.status]), [[payout.id, 'paid']]);
    });

    it('the CSV: the existing columns first and unchanged, the gateways and PayPal\'s figures last', async () => {
      const text = await csv();
      const header = text.slice(0, text.indexOf('\r\n')).split(',');
      assert.deepEqual(header.slice(0, 3), ['record_type', 'id', 'invoice_number']);
      assert.equal(header.indexOf('payout_statuses'), header.length - 9, 'the new columns come after every existing one');
      assert.deepEqual(header.slice(-8), ['gateways', 'paypal_currency', 'paypal_gross', 'paypal_gross_decimal', 'paypal_fees', 'paypal_fees_decimal', 'paypal_net', 'paypal_net_decimal']);
      assert.deepEqual(header, CSV_HEADER);
      const record = await csvRecord(invoiceId);
      assert.deepEqual(
        [record.reconciliation, record.gross, record.fees, record.net, record.net_decimal, record.payout_ids],
        ['reconciled', '2000', '123', '1877', '18.77', payout.id],
      );
      assert.deepEqual(
        [record.gateways, record.paypal_currency, record.paypal_gross, record.paypal_gross_decimal, record.paypal_fees, record.paypal_fees_decimal, record.paypal_net, record.paypal_net_decimal],
        ['paypal stripe', 'usd', '1000', '10.00', '64', '0.64', '936', '9.36'],
      );
    });
  });

  it('a PayPal capture naming no invoice is an unmatched payment with its gateway and PayPal figures, in the CSV too', async () => {
    const event = paypalEvent('PAYMENT.CAPTURE.COMPLETED', captureResource({ value: '7.00', fee: '0.50', net: '6.50' }));
    assert.equal((await pp.deliver(event as { id: string })).status, 'processed');
    const captureId = ((event as { resource: { id: string } }).resource).id;
    const unmatched = (await report()).unmatchedPayments.find((p) => p.id === captureId);
    assert.ok(unmatched, 'listed as unmatched');
    assert.deepEqual([unmatched.gateway, unmatched.settlement, unmatched.fees, unmatched.net], ['paypal', 'in_paypal_balance', 50, 650]);
    const record = (parse(await csv(), { columns: true }) as Record<string, string>[]).find((r) => r.id === captureId);
    assert.deepEqual([record?.record_type, record?.gateways, record?.paypal_net_decimal], ['unmatched_payment', 'paypal', '6.50']);
  });

  it('totals by gateway, side by side, and a token confined to one account sees only that account\'s', async () => {
    // A merchant of its own, so its figures are known exactly: one invoice by card (paid out), one by PayPal, one half and half.
    const gamma = await connectMerchant(rig.t, rig.fake, 'Gamma Garage');
    const gammaPaypal = await connectPaypal(rig.t, paypal, gamma.accountId);
    const byCard = await gamma.invoice(5_000);
    const byPaypal = await gamma.invoice(3_000);
    const half = await gamma.invoice(4_000);
    const cardTxns = [await payByCard(gamma, byCard, 5_000, 175), await payByCard(gamma, half, 2_000, 88)];
    await capture({ invoiceId: byPaypal, value: '30.00', fee: '1.17', net: '28.83', via: gammaPaypal });
    await capture({ invoiceId: half, value: '20.00', fee: '0.88', net: '19.12', via: gammaPaypal });
    await (await payOut(gamma, cardTxns)).paid();

    const token = (await scopedToken(rig.t, 'accountant', gamma.accountId)).headers;
    const seen = await report({}, token);
    assert.deepEqual(seen.invoices.map((r) => [r.id, r.reconciliation]).sort(), [[byCard, 'reconciled'], [byPaypal, 'reconciled'], [half, 'reconciled']].sort());
    assert.deepEqual(seen.totalsByGateway, [
      { gateway: 'paypal', currency: 'usd', minorUnitDigits: 2, settlement: 'in_paypal_balance', invoices: 2, gross: 5_000, fees: 205, net: 4_795 },
      { gateway: 'stripe', currency: 'usd', minorUnitDigits: 2, settlement: 'stripe_payout', invoices: 2, gross: 7_000, fees: 263, net: 6_737 },
    ]);
    // The currency totals hold both gateways' fees and net.
    assert.deepEqual([seen.totals.length, seen.totals[0]!.fees, seen.totals[0]!.net], [1, 468, 11_532]);
    // Unscoped, every account's PayPal money counts: more than Gamma's alone.
    const all = await report();
    const allPaypal = all.totalsByGateway.find((x) => x.gateway === 'paypal' && x.currency === 'usd') as { invoices: number };
    assert.ok(allPaypal.invoices > 2, JSON.stringify(all.totalsByGateway));
    // The scoped CSV lists Gamma's rows only.
    const records = parse(await csv(token), { columns: true }) as Record<string, string>[];
    assert.deepEqual(records.map((r) => r.id).sort(), [byCard, byPaypal, half].sort());
  });
});
