import assert from 'node:assert/strict';
import { captureResource, disputeResource, orderResource, paypalEvent, refundResource } from '../helpers/paypal-events.js';
import { readCapture, readDispute, readOrder, readPaypalResource, readRefund, type PaypalObjectView } from '../../src/paypal/objects/paypal-objects.js';
import { PAYPAL_EVENT_TYPES } from '../../src/paypal/event-types.js';
import { EventRejectedError } from '../../src/shared/errors.js';

const INVOICE = 'inv_0123456789abcdef01234567';
const context = { eventId: 'WH-TEST-1', eventType: 'PAYMENT.CAPTURE.COMPLETED' };
const at = new Date('2026-11-30T10:00:00Z');
const AT = Date.parse('2026-11-30T10:00:00Z') / 1000;

/** The rejection a reader throws: an invalid_object naming the field, the event and its type. */
function rejection(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    assert.ok(error instanceof EventRejectedError, String(error));
    assert.equal(error.reason, 'invalid_object');
    return error.message;
  }
  assert.fail('read without complaint');
}

describe('PayPal objects: captures, refunds, disputes and orders read into one shape', () => {
  it('a capture: amount, fee and net in minor units from seller_receivable_breakdown, its order, its invoice', () => {
    const resource = captureResource({ id: '6T496768GW863311H', value: '50.60', fee: '2.02', net: '48.58', customId: INVOICE, invoiceId: 'A-1001', orderId: '53545104JD618153F', created: at });
    assert.deepEqual(readCapture(resource, context), {
      kind: 'capture',
      id: '6T496768GW863311H',
      status: 'COMPLETED',
      reason: null,
      outcome: null,
      amount: 5060,
      currency: 'usd',
      invoiceId: INVOICE,
      customId: INVOICE,
      paypalInvoiceId: 'A-1001',
      orderId: '53545104JD618153F',
      captureId: '6T496768GW863311H',
      fee: 202,
      net: 4858,
      created: AT,
      updated: AT,
    } satisfies PaypalObjectView);
  });

  it('names the invoice by custom_id, else invoice_id, else none', () => {
    assert.equal(readCapture(captureResource({ value: '1.00', invoiceId: INVOICE }), context).invoiceId, INVOICE);
    assert.equal(readCapture(captureResource({ value: '1.00', customId: INVOICE, invoiceId: 'A-1001' }), context).invoiceId, INVOICE);
    assert.equal(readCapture(captureResource({ value: '1.00' }), context).invoiceId, null);
  });

  it('a capture still pending: its reason, and no fee yet', () => {
    const view = readCapture(captureResource({ value: '12.00', status: 'PENDING', reason: 'PENDING_REVIEW' }), context);
    assert.deepEqual([view.status, view.reason, view.fee, view.net], ['PENDING', 'PENDING_REVIEW', null, null]);
  });

  it('a capture\'s order from its "up" link when supplementary_data does not say', () => {
    const resource = captureResource({ value: '5.00', orderId: '7KD41577WN459841X' });
    delete resource.supplementary_data;
    assert.equal(readCapture(resource, context).orderId, '7KD41577WN459841X');
  });

  it('a capture in JPY and in HUF: PayPal\'s whole units, the books\' units', () => {
    assert.deepEqual(pick(readCapture(captureResource({ value: '1500', currency: 'JPY', fee: '101', net: '1399' }), context)), { amount: 1500, currency: 'jpy', fee: 101, net: 1399 });
    assert.deepEqual(pick(readCapture(captureResource({ value: '1500', currency: 'HUF', fee: '101', net: '1399' }), context)), { amount: 150000, currency: 'huf', fee: 10100, net: 139900 });
  });

  it('a refund: the capture refunded from its "up" link, the fee given back from seller_payable_breakdown', () => {
    const view = readRefund(refundResource({ id: '1JU08902781691411', value: '2.51', captureId: '2GG279541U471931P', fee: '0.09', net: '2.42', invoiceId: INVOICE, created: at }), {
      ...context,
      eventType: 'PAYMENT.CAPTURE.REFUNDED',
    });
    assert.deepEqual(pick(view, ['kind', 'id', 'status', 'amount', 'currency', 'captureId', 'invoiceId', 'fee', 'net', 'orderId']), {
      kind: 'refund',
      id: '1JU08902781691411',
      status: 'COMPLETED',
      amount: 251,
      currency: 'usd',
      captureId: '2GG279541U471931P',
      invoiceId: INVOICE,
      fee: 9,
      net: 242,
      orderId: null,
    });
  });

  it('a refund without a link to its capture cannot be applied: invalid_object naming the field', () => {
    const resource = refundResource({ value: '2.51', captureId: 'X' });
    resource.links = [{ href: 'https://api.paypal.com/v2/payments/refunds/1JU08902781691411', rel: 'self', method: 'GET' }];
    assert.match(rejection(() => readRefund(resource, context)), /^refund\.links: expected an "up" link to \/v2\/payments\/captures\/<capture id> \(the capture refunded\), got \[/);
  });

  it('a dispute: its amount, the disputed capture, the invoice from the transaction, the outcome once resolved', () => {
    const created = readDispute(disputeResource({ id: 'PP-D-27803', value: '3.00', captureId: '6T496768GW863311H', custom: INVOICE, created: at }), context);
    assert.deepEqual(pick(created, ['kind', 'id', 'status', 'reason', 'outcome', 'amount', 'captureId', 'invoiceId', 'fee']), {
      kind: 'dispute',
      id: 'PP-D-27803',
      status: 'OPEN',
      reason: 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
      outcome: null,
      amount: 300,
      captureId: '6T496768GW863311H',
      invoiceId: INVOICE,
      fee: null,
    });
    const resolved = readDispute(disputeResource({ value: '3.00', captureId: '6T496768GW863311H', status: 'RESOLVED', outcome: 'RESOLVED_SELLER_FAVOUR', invoiceNumber: INVOICE }), context);
    assert.deepEqual([resolved.status, resolved.outcome, resolved.invoiceId], ['RESOLVED', 'RESOLVED_SELLER_FAVOUR', INVOICE]);
  });

  it('a dispute without disputed transactions: invalid_object', () => {
    const resource = disputeResource({ value: '3.00', captureId: 'X' });
    resource.disputed_transactions = [];
    assert.match(rejection(() => readDispute(resource, context)), /^dispute\.disputed_transactions: expected the disputed transactions \(a non-empty array\), got \[\]/);
  });

  it('an approved order: its purchase unit\'s amount and invoice, no capture yet; a completed one: its capture', () => {
    const approved = readOrder(orderResource({ id: '5O190127TN364715T', value: '100.00', currency: 'EUR', invoiceId: INVOICE }), context);
    assert.deepEqual(pick(approved, ['kind', 'id', 'status', 'amount', 'currency', 'invoiceId', 'orderId', 'captureId']), {
      kind: 'order',
      id: '5O190127TN364715T',
      status: 'APPROVED',
      amount: 10000,
      currency: 'eur',
      invoiceId: INVOICE,
      orderId: '5O190127TN364715T',
      captureId: null,
    });
    const capture = captureResource({ id: '3C679366HH908993F', value: '100.00', currency: 'EUR' });
    assert.equal(readOrder(orderResource({ value: '100.00', currency: 'EUR', status: 'COMPLETED', captures: [capture] }), context).captureId, '3C679366HH908993F');
  });

  it('every bad field is an invalid_object naming the field, what was expected, and the event', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['a float amount', () => readCapture({ ...captureResource({ value: '1.00' }), amount: { currency_code: 'USD', value: 10.99 } }, context), /^capture\.amount\.value: expected a decimal string such as "10\.99" \(at most 32 characters\), got 10\.99 \(event WH-TEST-1, PAYMENT\.CAPTURE\.COMPLETED\)$/],
      ['too many decimals', () => readCapture(captureResource({ value: '10.999' }), context), /^capture\.amount\.value: USD has 2 decimal places at PayPal, got "10\.999"/],
      ['yen with decimals', () => readCapture(captureResource({ value: '1500.50', currency: 'JPY' }), context), /^capture\.amount\.value: JPY has no decimals at PayPal/],
      ['a negative amount', () => readCapture(captureResource({ value: '-5.00' }), context), /^capture\.amount\.value: expected an amount of zero or more/],
      ['no currency', () => readCapture({ ...captureResource({ value: '1.00' }), amount: { value: '1.00' } }, context), /^capture\.amount\.currency_code: expected an ISO 4217 currency code such as "USD", got nothing/],
      ['no id', () => readCapture({ ...captureResource({ value: '1.00' }), id: undefined }, context), /^capture\.id: expected the capture id \(a string\), got nothing/],
      ['a numeric status', () => readCapture({ ...captureResource({ value: '1.00' }), status: 3 }, context), /^capture\.status: expected a status \(a string\), got 3/],
      ['a fee in another currency', () => readCapture(feeIn('EUR'), context), /^capture\.seller_receivable_breakdown\.paypal_fee\.currency_code: expected USD, the amount's currency, got "EUR"/],
      ['a bad time', () => readCapture({ ...captureResource({ value: '1.00' }), create_time: 'yesterday' }, context), /^capture\.create_time: expected a date-time/],
      ['an invoice id that is not a string', () => readCapture({ ...captureResource({ value: '1.00' }), custom_id: 42 }, context), /^capture\.custom_id: expected a string of at most 255 characters, or nothing, got 42/],
      ['a resource that is not an object', () => readRefund(null, context), /^refund\.amount: expected \{currency_code, value\}, got nothing/],
    ];
    for (const [what, read, message] of cases) assert.match(rejection(read), message, what);
  });

  it('reads each handled event type with the reader for its resource', () => {
    const kinds = {
      'PAYMENT.CAPTURE.COMPLETED': captureResource({ value: '1.00' }),
      'PAYMENT.CAPTURE.PENDING': captureResource({ value: '1.00', status: 'PENDING' }),
      'PAYMENT.CAPTURE.DENIED': captureResource({ value: '1.00', status: 'DECLINED' }),
      'PAYMENT.CAPTURE.REFUNDED': refundResource({ value: '1.00', captureId: 'CAP1' }),
      'PAYMENT.CAPTURE.REVERSED': refundResource({ value: '1.00', captureId: 'CAP1' }),
      'CUSTOMER.DISPUTE.CREATED': disputeResource({ value: '1.00', captureId: 'CAP1' }),
      'CUSTOMER.DISPUTE.RESOLVED': disputeResource({ value: '1.00', captureId: 'CAP1', status: 'RESOLVED', outcome: 'RESOLVED_BUYER_FAVOUR' }),
      'CHECKOUT.ORDER.APPROVED': orderResource({ value: '1.00' }),
    } as const;
    assert.deepEqual(Object.keys(kinds).sort(), [...PAYPAL_EVENT_TYPES].sort());
    const expected = { capture: 'capture', refund: 'refund', dispute: 'dispute', order: 'order' } as const;
    for (const [type, resource] of Object.entries(kinds)) {
      const view = readPaypalResource(paypalEvent(type, resource));
      assert.equal(view.kind, expected[type.startsWith('CUSTOMER') ? 'dispute' : type.startsWith('CHECKOUT') ? 'order' : type.endsWith('REFUNDED') || type.endsWith('REVERSED') ? 'refund' : 'capture'], type);
      assert.equal(view.amount, 100, type);
    }
    assert.match(rejection(() => readPaypalResource(paypalEvent('BILLING.SUBSCRIPTION.CREATED', {}))), /"BILLING\.SUBSCRIPTION\.CREATED" is not a PayPal event type this service reads/);
    assert.match(rejection(() => readPaypalResource({ id: 'WH-2', event_type: 'constructor', resource: {} })), /not a PayPal event type/);
  });
});

function feeIn(currency: string) {
  const resource = captureResource({ value: '1.00', fee: '0.10', net: '0.90' });
  (resource.seller_receivable_breakdown as { paypal_fee: { currency_code: string } }).paypal_fee.currency_code = currency;
  return resource;
}

function pick(view: PaypalObjectView, keys: (keyof PaypalObjectView)[] = ['amount', 'currency', 'fee', 'net']) {
  return Object.fromEntries(keys.map((key) => [key, view[key]]));
}
