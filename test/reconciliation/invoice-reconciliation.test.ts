import assert from 'node:assert/strict';
import { reconcileInvoice, type InvoiceFactsForReconciliation, type ItemFacts, type PayoutFacts } from '../../src/reconciliation/invoice-reconciliation.js';
import { csvField } from '../../src/reconciliation/reconciliation.csv.js';

const payout = (over: Partial<PayoutFacts> = {}): PayoutFacts => ({
  id: 'po_1',
  amount: 970,
  currency: 'usd',
  status: 'paid',
  arrivalDate: 1_760_400_000,
  failureCode: null,
  failureMessage: null,
  repaidBy: null,
  itemsStatus: 'done',
  itemsFetched: true,
  itemsNet: 970,
  ...over,
});
const chargeItem = (over: Partial<ItemFacts> = {}): ItemFacts => ({
  id: 'txn_1',
  payoutId: 'po_1',
  paymentId: 'pi_1',
  chargeId: 'ch_1',
  refundId: null,
  disputeId: null,
  type: 'charge',
  reportingCategory: 'charge',
  amount: 1000,
  fee: 30,
  net: 970,
  currency: 'usd',
  ...over,
});

/** One invoice of 1000 usd paid by one charge that went out in payout po_1; `over` changes one fact. */
function facts(over: Partial<InvoiceFactsForReconciliation> = {}): InvoiceFactsForReconciliation {
  return {
    currency: 'usd',
    amountDue: 1000,
    amountPaid: 1000,
    payments: [{ id: 'pi_1', currency: 'usd', amountReceived: 1000 }],
    charges: [{ id: 'ch_1', paymentId: 'pi_1', currency: 'usd', amountCaptured: 1000, succeeded: true }],
    refunds: [],
    disputes: [],
    items: [chargeItem()],
    payouts: new Map([['po_1', payout()]]),
    ...over,
  };
}

describe('reconcileInvoice', () => {
  const cases: [string, Partial<InvoiceFactsForReconciliation>, string, string | null][] = [
    ['paid, paid out, tied out', {}, 'reconciled', null],
    ['nothing received', { amountPaid: 0, payments: [], charges: [], items: [] }, 'unpaid', null],
    ['received, not paid out yet', { items: [] }, 'awaiting_payout', null],
    ['received, its charge not known yet (payment_intent.succeeded before charge.succeeded)', { charges: [], items: [], payouts: new Map() }, 'awaiting_payout', null],
    ['a payout still in transit', { payouts: new Map([['po_1', payout({ status: 'in_transit' })]]) }, 'awaiting_payout', null],
    ['a refund not paid out yet', { refunds: [{ id: 're_1', currency: 'usd', amount: 100, status: 'succeeded' }] }, 'awaiting_payout', null],
    ['a failed refund is not awaited', { refunds: [{ id: 're_1', currency: 'usd', amount: 100, status: 'failed' }] }, 'reconciled', null],
    ['a dispute not paid out yet', { disputes: [{ id: 'dp_1', currency: 'usd', amount: 1000, status: 'needs_response' }] }, 'awaiting_payout', null],
    ['an inquiry (Stripe takes no money for it)', { disputes: [{ id: 'dp_1', currency: 'usd', amount: 1000, status: 'warning_needs_response' }] }, 'reconciled', null],
    ['a closed inquiry', { disputes: [{ id: 'dp_1', currency: 'usd', amount: 1000, status: 'warning_closed' }] }, 'reconciled', null],
    ['the payout failed: its money is back in the balance', { payouts: new Map([['po_1', payout({ status: 'failed', failureCode: 'account_closed' })]]) }, 'awaiting_payout', null],
    [
      'the payout failed, and a later one paid its money out again',
      { payouts: new Map([['po_1', payout({ status: 'failed', failureCode: 'account_closed', repaidBy: 'po_2' })], ['po_2', payout({ id: 'po_2' })]]) },
      'reconciled',
      null,
    ],
    [
      'the payout failed, and the later one is still in transit',
      { payouts: new Map([['po_1', payout({ status: 'failed', repaidBy: 'po_2' })], ['po_2', payout({ id: 'po_2', status: 'in_transit' })]]) },
      'awaiting_payout',
      null,
    ],
    ['refunded in full, only charge.refunded known (no refund object, nothing paid out)', { amountRefunded: 1000 }, 'awaiting_payout', null],
    ['the payout does not tie out', { payouts: new Map([['po_1', payout({ itemsNet: 969 })]]) }, 'discrepancy', 'does_not_tie_out'],
    ['the payout items could not be fetched', { payouts: new Map([['po_1', payout({ itemsFetched: false, itemsNet: null, itemsStatus: 'failed' })]]) }, 'discrepancy', 'does_not_tie_out'],
    ['paid in another currency', { payments: [{ id: 'pi_1', currency: 'eur', amountReceived: 1000 }] }, 'discrepancy', 'currency_mismatch'],
    ['settled in another currency', { items: [chargeItem({ currency: 'eur' })] }, 'discrepancy', 'currency_mismatch'],
    ['Stripe shows another amount for the charge', { items: [chargeItem({ amount: 900, net: 870 })], payouts: new Map([['po_1', payout({ amount: 870, itemsNet: 870 })]]) }, 'discrepancy', 'amount_mismatch'],
    ['underpaid', { amountDue: 1500 }, 'discrepancy', 'amount_mismatch'],
  ];
  for (const [name, over, state, reason] of cases) {
    it(`${name}: ${state}${reason ? ` (${reason})` : ''}`, () => {
      const result = reconcileInvoice(facts(over));
      assert.equal(result.reconciliation, state, JSON.stringify(result.discrepancy));
      assert.equal(result.discrepancy?.reason ?? null, reason);
    });
  }

  it('sums fees and net over the items and names the payouts with their arrival dates', () => {
    const result = reconcileInvoice(facts());
    assert.deepEqual([result.gross, result.fees, result.net, result.settlementCurrency], [1000, 30, 970, 'usd']);
    assert.deepEqual(result.payouts, [
      { id: 'po_1', status: 'paid', amount: 970, currency: 'usd', arrivalDate: '2025-10-14', net: 970, reconciled: true, failureCode: null, failureMessage: null, repaidBy: null },
    ]);
  });

  it('nets paid − refunded − fees − dispute losses + reinstated, paid out or not', () => {
    assert.equal(reconcileInvoice(facts({ amountRefunded: 1000 })).net, -30, 'a full refund known only from charge.refunded');
    assert.equal(reconcileInvoice(facts({ amountRefunded: 400 })).net, 570);
    const lost = { disputes: [{ id: 'dp_1', currency: 'usd', amount: 1000, status: 'lost' }] };
    assert.equal(reconcileInvoice(facts(lost)).net, -30);
    const won = { disputes: [{ id: 'dp_1', currency: 'usd', amount: 1000, status: 'won' }] };
    assert.equal(reconcileInvoice(facts(won)).net, 970);
    const inquiry = { disputes: [{ id: 'dp_1', currency: 'usd', amount: 1000, status: 'warning_closed' }] };
    assert.equal(reconcileInvoice(facts(inquiry)).net, 970);
  });

  it('lists the failed payout beside the one that paid its money out again, with the failure', () => {
    const result = reconcileInvoice(
      facts({ payouts: new Map([['po_1', payout({ status: 'failed', failureCode: 'account_closed', failureMessage: 'The bank account has been closed.', repaidBy: 'po_2' })], ['po_2', payout({ id: 'po_2', arrivalDate: 1_760_500_000, amount: 5000, itemsNet: 5000 })]]) }),
    );
    assert.deepEqual(
      result.payouts.map((p) => [p.id, p.status, p.net, p.failureCode, p.repaidBy]),
      [['po_1', 'failed', 970, 'account_closed', 'po_2'], ['po_2', 'paid', 970, null, null]],
    );
  });
});

/** An invoice of 1000 usd paid by one PayPal capture (fee 59, net 941), nothing of Stripe's; `over` changes one fact. */
function paypalFacts(over: Partial<InvoiceFactsForReconciliation> = {}): InvoiceFactsForReconciliation {
  return facts({
    payments: [{ id: 'CAP1', gateway: 'paypal', currency: 'usd', amountReceived: 1000, fee: 59, net: 941 }],
    charges: [],
    items: [],
    payouts: new Map(),
    ...over,
  });
}
const ppRefund = (over: Partial<InvoiceFactsForReconciliation['refunds'][number]> = {}) => ({
  id: 'RF1',
  paymentId: 'CAP1',
  currency: 'usd',
  amount: 400,
  status: 'succeeded',
  fee: 12,
  net: 388,
  ...over,
});

describe('reconcileInvoice with PayPal money (settled in the PayPal balance)', () => {
  const cases: [string, Partial<InvoiceFactsForReconciliation>, string, string | null][] = [
    ['captured, fee and net known', {}, 'reconciled', null],
    ['captured, its breakdown not known yet', { payments: [{ id: 'CAP1', gateway: 'paypal', currency: 'usd', amountReceived: 1000, fee: null, net: null }] }, 'awaiting_payout', null],
    ['a pending capture holds no money', { amountPaid: 0, payments: [{ id: 'CAP1', gateway: 'paypal', currency: 'usd', amountReceived: 0, fee: null, net: null }] }, 'unpaid', null],
    ['gross − fee ≠ net', { payments: [{ id: 'CAP1', gateway: 'paypal', currency: 'usd', amountReceived: 1000, fee: 59, net: 940 }] }, 'discrepancy', 'amount_mismatch'],
    ['captured in another currency', { payments: [{ id: 'CAP1', gateway: 'paypal', currency: 'eur', amountReceived: 1000, fee: 59, net: 941 }] }, 'discrepancy', 'currency_mismatch'],
    ['a refund with its breakdown', { amountRefunded: 400, refunds: [ppRefund()] }, 'reconciled', null],
    ['a refund still pending', { amountRefunded: 400, refunds: [ppRefund({ status: 'pending', fee: null, net: null })] }, 'awaiting_payout', null],
    ['a completed refund without its breakdown', { amountRefunded: 400, refunds: [ppRefund({ fee: null, net: null })] }, 'awaiting_payout', null],
    ['a failed refund is not awaited', { refunds: [ppRefund({ status: 'failed', fee: null, net: null })] }, 'reconciled', null],
    ['a refund whose breakdown does not add up', { amountRefunded: 400, refunds: [ppRefund({ net: 380 })] }, 'discrepancy', 'amount_mismatch'],
    ['a refund in another currency than its capture', { refunds: [ppRefund({ currency: 'eur' })] }, 'discrepancy', 'currency_mismatch'],
    ['an open dispute: PayPal holds the money', { disputes: [{ id: 'PP-D-1', paymentId: 'CAP1', currency: 'usd', amount: 1000, status: 'needs_response' }] }, 'awaiting_payout', null],
    ['a dispute won', { disputes: [{ id: 'PP-D-1', paymentId: 'CAP1', currency: 'usd', amount: 1000, status: 'won' }] }, 'reconciled', null],
    ['underpaid', { amountDue: 1500 }, 'discrepancy', 'amount_mismatch'],
  ];
  for (const [name, over, state, reason] of cases) {
    it(`${name}: ${state}${reason ? ` (${reason})` : ''}`, () => {
      const result = reconcileInvoice(paypalFacts(over));
      assert.equal(result.reconciliation, state, JSON.stringify(result.discrepancy));
      assert.equal(result.discrepancy?.reason ?? null, reason);
    });
  }

  it('figures: PayPal\'s gross, fees and net (the fee given back on a refund), the payment settled in the PayPal balance, no payout', () => {
    const result = reconcileInvoice(paypalFacts({ amountRefunded: 400, refunds: [ppRefund()] }));
    assert.deepEqual([result.gross, result.fees, result.net, result.settlementCurrency], [600, 47, 553, 'usd']);
    assert.deepEqual(result.paypal, { settlement: 'in_paypal_balance', currency: 'usd', gross: 600, fees: 47, net: 553, awaiting: null });
    assert.equal(result.stripe, null);
    assert.deepEqual(result.gateways, ['paypal']);
    assert.deepEqual(result.payments, [{ id: 'CAP1', gateway: 'paypal', settlement: 'in_paypal_balance', currency: 'usd', amountReceived: 1000, fee: 59, net: 941 }]);
    assert.deepEqual(result.payouts, []);
    const waiting = reconcileInvoice(paypalFacts({ payments: [{ id: 'CAP1', gateway: 'paypal', currency: 'usd', amountReceived: 1000, fee: null, net: null }] }));
    assert.match(waiting.paypal!.awaiting ?? '', /CAP1: its fee and net \(seller_receivable_breakdown\) are not known yet/);
  });

  describe('half by card, half by PayPal', () => {
    /** 2000 due: 1000 by card (charge ch_1, fee 30, in payout po_1) and 1000 by PayPal (fee 59). */
    const mixed = (over: Partial<InvoiceFactsForReconciliation> = {}) =>
      facts({
        amountDue: 2000,
        amountPaid: 2000,
        payments: [
          { id: 'pi_1', gateway: 'stripe', currency: 'usd', amountReceived: 1000 },
          { id: 'CAP1', gateway: 'paypal', currency: 'usd', amountReceived: 1000, fee: 59, net: 941 },
        ],
        ...over,
      });

    it('reconciled once the card half is in a paid payout and the PayPal half in the balance; figures add both', () => {
      const result = reconcileInvoice(mixed());
      assert.equal(result.reconciliation, 'reconciled', JSON.stringify(result.discrepancy));
      assert.deepEqual([result.gross, result.fees, result.net, result.settlementCurrency], [2000, 89, 1911, 'usd']);
      assert.deepEqual(result.stripe, { gross: 1000, fees: 30, net: 970, settlementCurrency: 'usd' });
      assert.deepEqual([result.paypal?.gross, result.paypal?.fees, result.paypal?.net], [1000, 59, 941]);
      assert.deepEqual(result.gateways, ['paypal', 'stripe']);
      assert.deepEqual(result.payments.map((p) => [p.id, p.settlement, p.fee, p.net]), [['pi_1', 'stripe_payout', 30, 970], ['CAP1', 'in_paypal_balance', 59, 941]]);
    });

    it('awaiting while the card half is not paid out (nor in a payout still in transit), whatever PayPal says', () => {
      assert.equal(reconcileInvoice(mixed({ items: [] })).reconciliation, 'awaiting_payout');
      assert.equal(reconcileInvoice(mixed({ payouts: new Map([['po_1', payout({ status: 'in_transit' })]]) })).reconciliation, 'awaiting_payout');
      assert.equal(reconcileInvoice(mixed({ items: [] })).net, 1000 + 941, "the card half's fee is not known until paid out");
    });

    it('awaiting while the PayPal half lacks its breakdown, though the card half is paid out', () => {
      const payments = [
        { id: 'pi_1', gateway: 'stripe', currency: 'usd', amountReceived: 1000 },
        { id: 'CAP1', gateway: 'paypal', currency: 'usd', amountReceived: 1000, fee: null, net: null },
      ];
      assert.equal(reconcileInvoice(mixed({ payments })).reconciliation, 'awaiting_payout');
    });

    it("a PayPal refund is PayPal's: it awaits no payout, and the card half's net is untouched", () => {
      const result = reconcileInvoice(mixed({ amountRefunded: 400, refunds: [ppRefund()] }));
      assert.equal(result.reconciliation, 'reconciled', JSON.stringify(result.discrepancy));
      assert.deepEqual([result.stripe?.net, result.paypal?.net, result.net], [970, 553, 1523]);
    });
  });
});

describe('csvField', () => {
  it('quotes fields with commas, quotes and line breaks (RFC 4180), and leaves the rest alone', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField(-1234), '-1234');
    assert.equal(csvField(null), '');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\r\nlines'), '"two\r\nlines"');
  });

  it('guards every text that starts with a formula character (apostrophe, quoted), and leaves numbers and decimals alone', () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r']) assert.equal(csvField(`${start}1+1`), `"'${start}1+1"`);
    assert.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvField('-12.50'), '-12.50');
    assert.equal(csvField(-7), '-7');
  });
});
