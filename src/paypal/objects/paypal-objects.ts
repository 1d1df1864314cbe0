import { EventRejectedError } from '../../shared/errors.js';
import { PAYPAL_EVENT_RESOURCES, isPaypalEventType, type PaypalResourceKind } from '../event-types.js';
import { fieldsOf, type EventContext, type Fields } from './fields.js';

/**
 * PayPal's captures, refunds, disputes and orders (a webhook event's `resource`, or the same
 * object from the API) read into one shape, in the books' terms: amounts in the minor unit,
 * currency in lower case, times in unix seconds. PayPal's wire format stops here.
 */
export interface PaypalObjectView {
  kind: PaypalResourceKind;
  /** The capture, refund or order id; the dispute's `dispute_id` (PP-D-…). */
  id: string;
  /** PayPal's status as written: COMPLETED, PENDING, DECLINED, REFUNDED…; OPEN, RESOLVED…; CREATED, APPROVED… */
  status: string;
  /** Why, when PayPal says: a capture's or refund's `status_details.reason`, a dispute's `reason`. */
  reason: string | null;
  /** A resolved dispute's `dispute_outcome.outcome_code` (RESOLVED_BUYER_FAVOUR, RESOLVED_SELLER_FAVOUR…); null otherwise. */
  outcome: string | null;
  /** The capture's, refund's or order's amount; the dispute's `dispute_amount`. */
  amount: number;
  currency: string;
  /**
   * The invoice it pays: `custom_id`, else `invoice_id` (the purchase unit's, on an order; a
   * dispute's transaction's `custom`, else `invoice_number`). custom_id first: it is the field this
   * service writes and PayPal never shows to the payer nor checks for duplicates (PayPal refuses a
   * second payment with an `invoice_id` already paid, on most accounts, so a second partial payment
   * of one invoice cannot carry it there). Both raw values are kept below.
   */
  invoiceId: string | null;
  customId: string | null;
  paypalInvoiceId: string | null;
  /** The order the capture belongs to (an order: itself). */
  orderId: string | null;
  /** A capture: itself; a refund: the capture refunded (its `up` link); a dispute: the disputed transaction; an order: its first capture, once captured. */
  captureId: string | null;
  /** From a capture's `seller_receivable_breakdown` (a refund's `seller_payable_breakdown`: the fee given back); null when PayPal sends none. */
  fee: number | null;
  net: number | null;
  created: number | null;
  updated: number | null;
}

const CAPTURE_PATH = '/v2/payments/captures/';
const ORDER_PATH = '/v2/checkout/orders/';

const base = (kind: PaypalResourceKind, f: Fields) => ({
  kind,
  created: f.optionalTime(['create_time']),
  updated: f.optionalTime(['update_time']),
});

/** The invoice a capture, refund or purchase unit names, by the precedence above. */
function invoiceRefs(f: Fields, at: (string | number)[] = []) {
  const customId = f.optionalText([...at, 'custom_id'], 255);
  const paypalInvoiceId = f.optionalText([...at, 'invoice_id'], 255);
  return { invoiceId: customId ?? paypalInvoiceId, customId, paypalInvoiceId };
}

/** Fee and net in the capture's currency; a breakdown in another currency is PayPal contradicting itself. */
function feeAndNet(f: Fields, breakdown: string, currency: string) {
  const fee = f.optionalMoney([breakdown, 'paypal_fee']);
  const net = f.optionalMoney([breakdown, 'net_amount'], { allowNegative: true });
  for (const [name, money] of [['paypal_fee', fee], ['net_amount', net]] as const) {
    if (money && money.currency !== currency) f.reject([breakdown, name, 'currency_code'], `expected ${currency.toUpperCase()}, the amount's currency`, money.currency.toUpperCase());
  }
  return { fee: fee?.amount ?? null, net: net?.amount ?? null };
}

export function readCapture(resource: unknown, context: EventContext): PaypalObjectView {
  const f = fieldsOf(resource, 'capture', context);
  const { amount, currency } = f.money(['amount']);
  const id = f.text(['id'], 'expected the capture id (a string)');
  return {
    ...base('capture', f),
    id,
    status: f.text(['status'], 'expected a status (a string)', 64),
    reason: f.optionalText(['status_details', 'reason'], 64),
    outcome: null,
    amount,
    currency,
    ...invoiceRefs(f),
    // PayPal names the order in supplementary_data; older captures only link to it (`up`). A capture
    // of an authorization links `up` to the authorization: no order then, unless supplementary_data says.
    orderId: f.optionalText(['supplementary_data', 'related_ids', 'order_id']) ?? f.linkedId('up', ORDER_PATH),
    captureId: id,
    ...feeAndNet(f, 'seller_receivable_breakdown', currency),
  };
}

/** A refund, and a reversal (PAYMENT.CAPTURE.REVERSED), which PayPal renders as a refund. */
export function readRefund(resource: unknown, context: EventContext): PaypalObjectView {
  const f = fieldsOf(resource, 'refund', context);
  const { amount, currency } = f.money(['amount']);
  const captureId = f.linkedId('up', CAPTURE_PATH) ?? f.reject(['links'], `expected an "up" link to ${CAPTURE_PATH}<capture id> (the capture refunded)`, f.at(['links']));
  return {
    ...base('refund', f),
    id: f.text(['id'], 'expected the refund id (a string)'),
    status: f.text(['status'], 'expected a status (a string)', 64),
    reason: f.optionalText(['status_details', 'reason'], 64),
    outcome: null,
    amount,
    currency,
    ...invoiceRefs(f),
    orderId: null,
    captureId,
    ...feeAndNet(f, 'seller_payable_breakdown', currency),
  };
}

export function readDispute(resource: unknown, context: EventContext): PaypalObjectView {
  const f = fieldsOf(resource, 'dispute', context);
  const transactions = f.at(['disputed_transactions']);
  if (!Array.isArray(transactions) || transactions.length === 0) {
    return f.reject(['disputed_transactions'], 'expected the disputed transactions (a non-empty array)', transactions);
  }
  // One payment per dispute here: the first transaction is the capture disputed (PayPal's own
  // disputes name one; a dispute over several of this service's captures is not made by checkout).
  const customId = f.optionalText(['disputed_transactions', 0, 'custom'], 255);
  const paypalInvoiceId = f.optionalText(['disputed_transactions', 0, 'invoice_number'], 255);
  const { amount, currency } = f.money(['dispute_amount']);
  return {
    ...base('dispute', f),
    id: f.text(['dispute_id'], 'expected the dispute id (a string)'),
    status: f.text(['status'], 'expected a status (a string)', 64),
    reason: f.optionalText(['reason'], 64),
    outcome: f.optionalText(['dispute_outcome', 'outcome_code'], 64),
    amount,
    currency,
    invoiceId: customId ?? paypalInvoiceId,
    customId,
    paypalInvoiceId,
    orderId: null,
    captureId: f.text(['disputed_transactions', 0, 'seller_transaction_id'], 'expected the disputed capture\'s id (a string)'),
    fee: null,
    net: null,
  };
}

/**
 * An order: its first purchase unit (orders made here have one) names the invoice and the amount.
 * Once captured, the unit's first capture is given as captureId.
 */
export function readOrder(resource: unknown, context: EventContext): PaypalObjectView {
  const f = fieldsOf(resource, 'order', context);
  const units = f.at(['purchase_units']);
  if (!Array.isArray(units) || units.length === 0) return f.reject(['purchase_units'], 'expected the purchase units (a non-empty array)', units);
  const { amount, currency } = f.money(['purchase_units', 0, 'amount']);
  const captures = f.at(['purchase_units', 0, 'payments', 'captures']);
  const id = f.text(['id'], 'expected the order id (a string)');
  return {
    ...base('order', f),
    id,
    status: f.text(['status'], 'expected a status (a string)', 64),
    reason: null,
    outcome: null,
    amount,
    currency,
    ...invoiceRefs(f, ['purchase_units', 0]),
    orderId: id,
    captureId: Array.isArray(captures) && captures.length > 0 ? f.text(['purchase_units', 0, 'payments', 'captures', 0, 'id'], 'expected the capture id (a string)') : null,
    fee: null,
    net: null,
  };
}

const READERS: Record<PaypalResourceKind, (resource: unknown, context: EventContext) => PaypalObjectView> = {
  capture: readCapture,
  refund: readRefund,
  dispute: readDispute,
  order: readOrder,
};

/**
 * A handled event's resource, read by the reader for its type (event-types.ts). A type this
 * service does not handle is not read: the caller ignores the event (as Stripe's unhandled types).
 */
export function readPaypalResource(event: { id?: unknown; event_type?: unknown; resource?: unknown }): PaypalObjectView {
  const eventId = typeof event.id === 'string' ? event.id : '(no id)';
  const eventType = typeof event.event_type === 'string' ? event.event_type : '';
  if (!isPaypalEventType(eventType)) {
    throw new EventRejectedError('invalid_object', `event ${eventId}: ${JSON.stringify(eventType).slice(0, 60)} is not a PayPal event type this service reads`);
  }
  return READERS[PAYPAL_EVENT_RESOURCES[eventType]](event.resource, { eventId, eventType });
}
