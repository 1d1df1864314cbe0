import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { stripeEvent } from '../helpers/stripe-events.js';
import { readCharge, readPaymentIntent, readRefund } from '../../src/stripe/objects/payment-objects.js';
import { readPayout } from '../../src/stripe/objects/payout-object.js';
import { isBefore, isOlderThanSupported, PINNED_API_VERSION } from '../../src/stripe/api-version.js';
import { EventRejectedError } from '../../src/shared/errors.js';

const at = (version: string, event: Stripe.Event) => ({ ...event, api_version: version }) as Stripe.Event;
const charge = (version: string, object: Record<string, unknown>) => at(version, stripeEvent({ type: 'charge.refunded', resource: 'charge', object }));

describe('Stripe objects: any supported API version read into one shape', () => {
  it('compares versions by date, reads an event without a version as the pinned shape, and knows what is too old', () => {
    assert.equal(isBefore('2025-03-01.basil', '2025-03-31'), true);
    assert.equal(isBefore('2025-03-31.basil', '2025-03-31'), false);
    assert.equal(isBefore(null, '2025-03-31'), false);
    assert.equal(isOlderThanSupported('2020-03-02'), true);
    assert.equal(isOlderThanSupported('2020-08-27'), false);
    assert.equal(isOlderThanSupported(PINNED_API_VERSION), false);
  });

  it('a charge before 2025-03-31: the uncaptured part in amount_refunded is released, not refunded; since then amount_refunded is all refunds', () => {
    const partial = { amount: 1000, amount_captured: 600, captured: true, amount_refunded: 500 };
    assert.deepEqual(pick(readCharge(charge('2024-06-20', partial))), { amountCaptured: 600, amountRefunded: 100 });
    assert.deepEqual(pick(readCharge(charge('2025-03-31.basil', { ...partial, amount_refunded: 100 }))), { amountCaptured: 600, amountRefunded: 100 });
    // An authorization released whole: nothing captured, nothing refunded.
    assert.deepEqual(pick(readCharge(charge('2024-06-20', { amount: 1000, amount_captured: 0, captured: false, amount_refunded: 1000 }))), { amountCaptured: 0, amountRefunded: 0 });
    // amount_captured above amount (never from Stripe) releases nothing.
    assert.deepEqual(pick(readCharge(charge('2024-06-20', { amount: 1000, amount_captured: 2000, captured: true, amount_refunded: 0 }))), { amountCaptured: 2000, amountRefunded: 0 });
  });

  it('a charge without amount_captured (older versions): its amount when captured, else 0', () => {
    const object = { amount: 1000, captured: true, amount_refunded: 0, amount_captured: undefined };
    assert.equal(readCharge(charge('2020-08-27', object)).amountCaptured, 1000);
    assert.equal(readCharge(charge('2020-08-27', { ...object, captured: false })).amountCaptured, 0);
  });

  it('a charge without a status (the oldest versions): paid says whether it succeeded; with neither, invalid_object', () => {
    const object = { status: undefined, amount: 1000, captured: true, amount_refunded: 0 };
    assert.equal(readCharge(charge('2020-08-27', { ...object, paid: true })).succeeded, true);
    assert.equal(readCharge(charge('2020-08-27', { ...object, paid: false })).succeeded, false);
    assert.equal(readCharge(charge('2020-08-27', { ...object, status: 'failed', paid: true })).succeeded, false, 'a status wins over paid');
    assert.throws(
      () => readCharge(charge('2020-08-27', { ...object, paid: undefined })),
      (error: unknown) => error instanceof EventRejectedError && /charge\.status: expected a status \(a string\), or `paid`/.test(error.message),
    );
  });

  it('a payout shaped as a transfer (before 2017-04-06): date is when it arrives; with neither date nor arrival_date, invalid_object', () => {
    const transfer = stripeEvent({ type: 'payout.paid', resource: 'payout', object: { object: 'transfer', created: undefined, arrival_date: undefined, date: 1381104000 } });
    const view = readPayout(transfer);
    assert.equal(view.arrivalDate, 1381104000);
    assert.equal(view.created, 1381104000);
    const current = readPayout(stripeEvent({ type: 'payout.paid', resource: 'payout', object: { created: 1700000000, arrival_date: 1700086400 } }));
    assert.deepEqual([current.created, current.arrivalDate], [1700000000, 1700086400]);
    assert.throws(
      () => readPayout(stripeEvent({ type: 'payout.paid', resource: 'payout', object: { arrival_date: undefined } })),
      (error: unknown) => error instanceof EventRejectedError && /payout\.arrival_date: expected a unix timestamp \(an integer\), or `date`/.test(error.message),
    );
  });

  it('a PaymentIntent before 2022-11-15 names its latest charge by charges.data; since then by latest_charge', () => {
    const old = at('2022-08-01', stripeEvent({ type: 'payment_intent.succeeded', resource: 'payment_intent', object: { latest_charge: undefined, charges: { data: [{ id: 'ch_new' }, { id: 'ch_old' }] } } }));
    assert.equal(readPaymentIntent(old).latestChargeId, 'ch_new');
    const current = stripeEvent({ type: 'payment_intent.succeeded', resource: 'payment_intent', object: { latest_charge: 'ch_latest' } });
    assert.equal(readPaymentIntent(current).latestChargeId, 'ch_latest');
  });

  it('rejects an object as invalid_object, naming every bad field and what it got', () => {
    const event = stripeEvent({ type: 'refund.created', resource: 'refund', object: { amount: null, currency: 'dollars', created: 1.5 } });
    assert.throws(
      () => readRefund(event),
      (error: unknown) =>
        error instanceof EventRejectedError &&
        error.reason === 'invalid_object' &&
        /refund\.amount: expected an integer, got null; refund\.currency: expected a three-letter currency code, got "dollars"; refund\.created: expected a unix timestamp \(an integer\), got 1\.5/.test(error.message),
    );
  });
});

function pick(view: { amountCaptured: number; amountRefunded: number }) {
  return { amountCaptured: view.amountCaptured, amountRefunded: view.amountRefunded };
}
