import { randomBytes } from 'node:crypto';
import type { FakePaypal, FakePaypalRequest } from './fake-paypal.js';
import { captureResource, orderResource, paypalId, paypalTime, refundResource } from './paypal-events.js';

/**
 * The fake PayPal's orders (Orders v2: create, get, capture) and payments (Payments v2: get a
 * capture or a refund), per app. PayPal-Request-Id makes a create or a capture idempotent as at
 * PayPal: the same id answers what the first request got, and does nothing again. A test plays
 * the payer with `approve()` and the merchant refunding in PayPal with `refund()`.
 *
 * Money is checked and computed here on its own terms (PayPal's decimal strings, whole-unit
 * currencies, its fee), independent of src/paypal/amounts.ts, so the two check each other.
 */

/** PayPal's error body: {name, message, debug_id, details[]}. */
export const paypalError = (status: number, name: string, message: string, details: { field?: string; issue: string; description?: string }[] = []) => ({
  status,
  body: { name, message, debug_id: randomBytes(6).toString('hex'), ...(details.length > 0 && { details }) },
});

/** PayPal's currencies; HUF, JPY and TWD take no decimals (PayPal's currency codes page). */
const CURRENCIES = new Set(['AUD', 'BRL', 'CAD', 'CNY', 'CZK', 'DKK', 'EUR', 'HKD', 'HUF', 'ILS', 'JPY', 'MYR', 'MXN', 'TWD', 'NZD', 'NOK', 'PHP', 'PLN', 'GBP', 'SGD', 'SEK', 'CHF', 'THB', 'USD']);
const decimalsOf = (currency: string) => (['HUF', 'JPY', 'TWD'].includes(currency) ? 0 : 2);

/** "10.99" → 1099n in PayPal's smallest unit of the currency; null when PayPal would refuse it. */
function units(value: string, currency: string): bigint | null {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!match || (match[2] ?? '').length > decimalsOf(currency)) return null;
  return BigInt(match[1]! + (match[2] ?? '').padEnd(decimalsOf(currency), '0'));
}

function format(amount: bigint, currency: string): string {
  const digits = decimalsOf(currency);
  if (digits === 0) return amount.toString();
  const text = amount.toString().padStart(digits + 1, '0');
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/** PayPal's standard domestic rate, as this fake charges it: 3.49% + 49 of the smallest unit, rounded half up. */
const feeOf = (gross: bigint) => (gross * 349n + 5000n) / 10000n + 49n;

interface Owned<T> {
  clientId: string;
  value: T;
}

type Resource = Record<string, unknown>;
type Money = { currency_code: string; value: string };

export class FakeOrderBook {
  readonly orders = new Map<string, Owned<Resource>>();
  readonly captures = new Map<string, Owned<Resource>>();
  readonly refunds = new Map<string, Owned<Resource>>();
  /** Answers by (app, path, PayPal-Request-Id). */
  readonly idempotent = new Map<string, { status: number; body: unknown }>();

  /** The payer approves the order at PayPal (the approve link): it can be captured. */
  approve(orderId: string): Resource {
    const order = this.orders.get(orderId)!.value;
    const unit = (order.purchase_units as Resource[])[0]!;
    const amount = unit.amount as Money;
    const approved = orderResource({
      id: orderId,
      value: amount.value,
      currency: amount.currency_code,
      status: 'APPROVED',
      invoiceId: unit.invoice_id as string | undefined,
      customId: unit.custom_id as string | undefined,
    });
    this.orders.get(orderId)!.value = approved;
    return approved;
  }

  /** The merchant refunds a capture in PayPal (all of it unless `value`): the refund, as PAYMENT.CAPTURE.REFUNDED carries it. */
  refund(captureId: string, value?: string): Resource {
    const owned = this.captures.get(captureId)!;
    const capture = owned.value;
    const amount = capture.amount as Money;
    const currency = amount.currency_code;
    const refunded = units(value ?? amount.value, currency)!;
    const gross = units(amount.value, currency)!;
    // PayPal gives back the fee in proportion to the amount refunded (the fixed part is kept).
    const feeBack = ((feeOf(gross) - 49n) * refunded) / gross;
    const refund = refundResource({
      value: format(refunded, currency),
      currency,
      captureId,
      invoiceId: capture.invoice_id as string | undefined,
      customId: capture.custom_id as string | undefined,
      fee: format(feeBack, currency),
      net: format(refunded - feeBack, currency),
    });
    this.refunds.set(refund.id as string, { clientId: owned.clientId, value: refund });
    const total = [...this.refunds.values()]
      .filter((r) => (r.value.links as { rel: string; href: string }[]).some((l) => l.rel === 'up' && l.href.endsWith(`/${captureId}`)))
      .reduce((sum, r) => sum + units((r.value.amount as Money).value, currency)!, 0n);
    capture.status = total >= gross ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    return refund;
  }
}

export function addOrderRoutes(fake: FakePaypal): void {
  const book = fake.orders;
  const idOf = (req: FakePaypalRequest, index: number) => req.path.split('/')[index] ?? '';
  const notFound = (what: string, id: string) =>
    paypalError(404, 'RESOURCE_NOT_FOUND', 'The specified resource does not exist.', [{ issue: 'INVALID_RESOURCE_ID', description: `Specified resource ID ${id} does not exist (${what}).` }]);
  const unprocessable = (issue: string, description: string, field?: string) =>
    paypalError(422, 'UNPROCESSABLE_ENTITY', 'The requested action could not be performed, semantically incorrect, or failed business validation.', [{ ...(field && { field }), issue, description }]);
  /** The answer a PayPal-Request-Id already got, or the new one, kept under it. */
  const once = (req: FakePaypalRequest, make: () => { status: number; body: unknown }) => {
    const key = `${req.clientId} ${req.path} ${req.requestId}`;
    if (req.requestId && book.idempotent.has(key)) return book.idempotent.get(key)!;
    const answer = make();
    if (req.requestId && answer.status < 400) book.idempotent.set(key, answer);
    return answer;
  };

  fake.route('POST', /^\/v2\/checkout\/orders$/, (req) =>
    once(req, () => {
      const { intent, purchase_units: purchaseUnits } = (req.body ?? {}) as { intent?: unknown; purchase_units?: unknown };
      if (intent !== 'CAPTURE' && intent !== 'AUTHORIZE') {
        return paypalError(400, 'INVALID_REQUEST', 'Request is not well-formed, syntactically incorrect, or violates schema.', [{ field: '/intent', issue: 'INVALID_PARAMETER_VALUE' }]);
      }
      if (!Array.isArray(purchaseUnits) || purchaseUnits.length === 0) {
        return paypalError(400, 'INVALID_REQUEST', 'Request is not well-formed, syntactically incorrect, or violates schema.', [{ field: '/purchase_units', issue: 'MISSING_REQUIRED_PARAMETER' }]);
      }
      const unit = purchaseUnits[0] as { amount?: Partial<Money>; invoice_id?: string; custom_id?: string };
      const currency = String(unit.amount?.currency_code ?? '');
      if (!CURRENCIES.has(currency)) return unprocessable('CURRENCY_NOT_SUPPORTED', `Currency code ${currency} is not supported.`, '/purchase_units/@reference_id==\'default\'/amount/currency_code');
      if (units(String(unit.amount?.value ?? ''), currency) === null) {
        return unprocessable('DECIMAL_PRECISION', `If the currency supports decimals, only two decimal place precision is supported (${currency}: ${decimalsOf(currency)}).`, '/purchase_units/@reference_id==\'default\'/amount/value');
      }
      const order = orderResource({ value: String(unit.amount!.value), currency, status: 'CREATED', invoiceId: unit.invoice_id, customId: unit.custom_id });
      book.orders.set(order.id as string, { clientId: req.clientId!, value: order });
      return { status: 201, body: order };
    }),
  );
  fake.route('GET', /^\/v2\/checkout\/orders\/\w+$/, (req) => {
    const owned = book.orders.get(idOf(req, 4));
    return owned && owned.clientId === req.clientId ? { body: owned.value } : notFound('order', idOf(req, 4));
  });
  fake.route('POST', /^\/v2\/checkout\/orders\/\w+\/capture$/, (req) =>
    once(req, () => {
      const id = idOf(req, 4);
      const owned = book.orders.get(id);
      if (!owned || owned.clientId !== req.clientId) return notFound('order', id);
      const order = owned.value;
      if (order.status === 'COMPLETED') return unprocessable('ORDER_ALREADY_CAPTURED', 'Order already captured. If intent=CAPTURE only one capture per order is allowed.');
      if (order.status !== 'APPROVED') return unprocessable('ORDER_NOT_APPROVED', 'Payer has not yet approved the Order for payment.');
      const unit = (order.purchase_units as Resource[])[0]!;
      const amount = unit.amount as Money;
      const gross = units(amount.value, amount.currency_code)!;
      const fee = feeOf(gross);
      const capture = captureResource({
        id: paypalId(),
        value: amount.value,
        currency: amount.currency_code,
        invoiceId: unit.invoice_id as string | undefined,
        customId: unit.custom_id as string | undefined,
        orderId: id,
        fee: format(fee, amount.currency_code),
        net: format(gross - fee, amount.currency_code),
      });
      book.captures.set(capture.id as string, { clientId: owned.clientId, value: capture });
      const completed = orderResource({
        id,
        value: amount.value,
        currency: amount.currency_code,
        status: 'COMPLETED',
        invoiceId: unit.invoice_id as string | undefined,
        customId: unit.custom_id as string | undefined,
        captures: [capture],
      });
      completed.update_time = paypalTime();
      owned.value = completed;
      return { status: 201, body: completed };
    }),
  );
  fake.route('GET', /^\/v2\/payments\/captures\/\w+$/, (req) => {
    const owned = book.captures.get(idOf(req, 4));
    return owned && owned.clientId === req.clientId ? { body: owned.value } : notFound('capture', idOf(req, 4));
  });
  fake.route('GET', /^\/v2\/payments\/refunds\/\w+$/, (req) => {
    const owned = book.refunds.get(idOf(req, 4));
    return owned && owned.clientId === req.clientId ? { body: owned.value } : notFound('refund', idOf(req, 4));
  });
}
