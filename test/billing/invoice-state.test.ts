import assert from 'node:assert/strict';
import { deriveInvoiceState, type InvoiceFacts } from '../../src/billing/invoice-state.js';
import { paymentIntentStatusMoves, refundStatusMoves, disputeStatusMoves } from '../../src/billing/status-order.js';
import { formatMinor } from '../../src/billing/currencies.js';

const base = (over: Partial<InvoiceFacts> = {}): InvoiceFacts => ({
  currency: 'usd',
  amountDue: 1000,
  voided: false,
  payments: [],
  charges: [],
  refunds: [],
  disputes: [],
  ...over,
});
const paid = (amount = 1000) => ({ payments: [{ id: 'pi_1', currency: 'usd', amountReceived: amount }] });
const charge = (amountRefunded: number) => ({ id: 'ch_1', paymentId: 'pi_1', currency: 'usd', amountCaptured: 1000, amountRefunded, succeeded: true });
const refund = (id: string, amount: number, status: string) => ({ id, paymentId: 'pi_1', chargeId: 'ch_1', currency: 'usd', amount, status });

describe('invoice state, derived from facts', () => {
  it('is open with nothing received, partially_paid below the amount due, paid at it', () => {
    assert.equal(deriveInvoiceState(base()).status, 'open');
    assert.equal(deriveInvoiceState(base(paid(400))).status, 'partially_paid');
    assert.equal(deriveInvoiceState(base(paid(1000))).status, 'paid');
  });

  it('counts a charge refund the refund objects have not explained yet, and no more than once', () => {
    assert.equal(deriveInvoiceState(base({ ...paid(), charges: [charge(300)] })).amountRefunded, 300);
    assert.equal(deriveInvoiceState(base({ ...paid(), charges: [charge(300)], refunds: [refund('re_1', 300, 'succeeded')] })).amountRefunded, 300);
    assert.equal(deriveInvoiceState(base({ ...paid(), charges: [charge(500)], refunds: [refund('re_1', 300, 'succeeded')] })).amountRefunded, 500);
  });

  it("does not count the Refund object of an authorization released uncaptured (before API 2025-03-31), only the money given back", () => {
    // A partial capture of 600 of 1000: Stripe's Refund for the released 400 is no refund; a real refund of 100 later is.
    const partial = { id: 'ch_1', paymentId: 'pi_1', currency: 'usd', amountCaptured: 600, amountRefunded: 0, amountReleased: 400, succeeded: true };
    const release = refund('re_release', 400, 'succeeded');
    const alone = deriveInvoiceState(base({ amountDue: 600, ...paid(600), charges: [partial], refunds: [release] }));
    assert.deepEqual([alone.status, alone.amountPaid, alone.amountRefunded], ['paid', 600, 0]);
    const later = deriveInvoiceState(base({ amountDue: 600, ...paid(600), charges: [{ ...partial, amountRefunded: 100 }], refunds: [release, refund('re_real', 100, 'succeeded')] }));
    assert.deepEqual([later.status, later.amountRefunded], ['partially_refunded', 100]);
    // Before the charge says what it released, the Refund counts; once it does, it no longer does.
    assert.equal(deriveInvoiceState(base({ ...paid(600), refunds: [release] })).amountRefunded, 400);
  });

  it('does not count a failed refund even when the charge still reports it', () => {
    const state = deriveInvoiceState(base({ ...paid(), charges: [charge(500)], refunds: [refund('re_1', 500, 'failed')] }));
    assert.deepEqual([state.amountRefunded, state.status], [0, 'paid']);
  });

  it('is refunded when everything received went back, partially_refunded before that', () => {
    assert.equal(deriveInvoiceState(base({ ...paid(), refunds: [refund('re_1', 1000, 'succeeded')] })).status, 'refunded');
    assert.equal(deriveInvoiceState(base({ ...paid(), refunds: [refund('re_1', 1, 'pending')] })).status, 'partially_refunded');
  });

  it('is disputed while a dispute is open or after it was lost, and not after it was won', () => {
    const dispute = (status: string) => ({ ...paid(), disputes: [{ id: 'dp_1', paymentId: 'pi_1', currency: 'usd', amount: 1000, status }] });
    assert.equal(deriveInvoiceState(base(dispute('needs_response'))).status, 'disputed');
    assert.equal(deriveInvoiceState(base(dispute('lost'))).status, 'disputed');
    assert.equal(deriveInvoiceState(base(dispute('won'))).status, 'paid');
  });

  it('does not count an inquiry (warning_needs_response) as a dispute: Stripe takes no money for it', () => {
    const inquiry = { ...paid(), disputes: [{ id: 'dp_1', paymentId: 'pi_1', currency: 'usd', amount: 1000, status: 'warning_needs_response' }] };
    assert.deepEqual([deriveInvoiceState(base(inquiry)).status, deriveInvoiceState(base(inquiry)).amountDisputed], ['paid', 0]);
  });

  it('counts a refund without a charge id once, against its payment\'s only charge', () => {
    const state = deriveInvoiceState(base({ ...paid(), charges: [charge(300)], refunds: [{ ...refund('re_1', 300, 'succeeded'), chargeId: null }] }));
    assert.equal(state.amountRefunded, 300);
  });

  it('flags an overpayment for review', () => {
    assert.match(deriveInvoiceState(base(paid(1500))).reviewReason ?? '', /overpaid by 500 usd/);
  });
});

describe('status order', () => {
  it('never moves a PaymentIntent back from succeeded or canceled', () => {
    assert.equal(paymentIntentStatusMoves({ status: 'succeeded', eventCreated: 1 }, { status: 'processing', eventCreated: 9 }), false);
    assert.equal(paymentIntentStatusMoves({ status: 'canceled', eventCreated: 1 }, { status: 'succeeded', eventCreated: 9 }), false);
    assert.equal(paymentIntentStatusMoves({ status: 'processing', eventCreated: 9 }, { status: 'succeeded', eventCreated: 1 }), true);
    assert.equal(paymentIntentStatusMoves({ status: null, eventCreated: 0 }, { status: 'requires_payment_method', eventCreated: 1 }), true);
  });

  it('lets a refund fail after it succeeded only from a newer event', () => {
    assert.equal(refundStatusMoves({ status: 'succeeded', eventCreated: 10 }, { status: 'failed', eventCreated: 20 }), true);
    assert.equal(refundStatusMoves({ status: 'failed', eventCreated: 20 }, { status: 'succeeded', eventCreated: 10 }), false);
    assert.equal(refundStatusMoves({ status: 'succeeded', eventCreated: 10 }, { status: 'pending', eventCreated: 30 }), false);
  });

  it('closes a dispute for good', () => {
    assert.equal(disputeStatusMoves({ status: 'won', eventCreated: 10 }, { status: 'needs_response', eventCreated: 30 }), false);
  });
});

describe('money formatting', () => {
  it('writes minor units as exact decimals per currency', () => {
    assert.equal(formatMinor(123456, 'usd'), '1234.56');
    assert.equal(formatMinor(5, 'usd'), '0.05');
    assert.equal(formatMinor(-250, 'eur'), '-2.50');
    assert.equal(formatMinor(5000, 'jpy'), '5000');
    assert.equal(formatMinor(1234, 'kwd'), '1.234');
  });
});
