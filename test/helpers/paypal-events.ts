import { randomBytes } from 'node:crypto';
import { PAYPAL_EVENT_RESOURCES } from '../../src/paypal/event-types.js';

/**
 * PayPal webhook events and the resources they carry (captures, refunds, disputes, orders), built
 * here in the shapes PayPal publishes for them: its Orders v2, Payments v2 and Disputes v1
 * references and its sample events (resource_type, resource_version "2.0", HATEOAS links, money
 * as {currency_code, value} with decimal strings). Written for these tests, not copied from
 * PayPal's samples. The fake PayPal (fake-paypal.ts) answers with the same resources.
 *
 * Amounts are given as PayPal writes them ("10.99"): the tests check the conversion, so the
 * builders do not convert.
 */

/** An id in PayPal's style: upper-case letters and digits (captures and orders 17, events WH-…). */
export const paypalId = (length = 17) =>
  Array.from(randomBytes(length), (byte) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[byte % 36])
    .join('');

/** The API host the links point at (sandbox unless said). */
const apiHost = (live = false) => (live ? 'https://api.paypal.com' : 'https://api.sandbox.paypal.com');
const money = (value: string, currency: string) => ({ currency_code: currency, value });
const link = (href: string, rel: string, method = 'GET') => ({ href, rel, method });
/** PayPal's RFC 3339 time, to the second. */
export const paypalTime = (date = new Date()) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface CaptureOptions {
  id?: string;
  value: string;
  currency?: string;
  status?: 'COMPLETED' | 'PENDING' | 'DECLINED' | 'REFUNDED' | 'PARTIALLY_REFUNDED' | 'FAILED';
  /** status_details.reason: PENDING_REVIEW, ECHECK… for a PENDING capture. */
  reason?: string;
  invoiceId?: string;
  customId?: string;
  orderId?: string;
  /** seller_receivable_breakdown; left out when not given (PayPal leaves it out of a capture still pending). */
  fee?: string;
  net?: string;
  live?: boolean;
  created?: Date;
}

/** A capture (Payments v2), as PAYMENT.CAPTURE.COMPLETED / .PENDING / .DENIED carry it. */
export function captureResource(o: CaptureOptions): Record<string, unknown> {
  const id = o.id ?? paypalId();
  const currency = o.currency ?? 'USD';
  const time = paypalTime(o.created);
  return {
    id,
    amount: money(o.value, currency),
    final_capture: true,
    seller_protection: { status: 'ELIGIBLE', dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'] },
    ...(o.fee !== undefined && {
      seller_receivable_breakdown: { gross_amount: money(o.value, currency), paypal_fee: money(o.fee, currency), net_amount: money(o.net ?? o.value, currency) },
    }),
    ...(o.invoiceId !== undefined && { invoice_id: o.invoiceId }),
    ...(o.customId !== undefined && { custom_id: o.customId }),
    status: o.status ?? 'COMPLETED',
    ...(o.reason !== undefined && { status_details: { reason: o.reason } }),
    ...(o.orderId !== undefined && { supplementary_data: { related_ids: { order_id: o.orderId } } }),
    create_time: time,
    update_time: time,
    links: [
      link(`${apiHost(o.live)}/v2/payments/captures/${id}`, 'self'),
      link(`${apiHost(o.live)}/v2/payments/captures/${id}/refund`, 'refund', 'POST'),
      ...(o.orderId !== undefined ? [link(`${apiHost(o.live)}/v2/checkout/orders/${o.orderId}`, 'up')] : []),
    ],
  };
}

export interface RefundOptions {
  id?: string;
  value: string;
  currency?: string;
  captureId: string;
  status?: 'COMPLETED' | 'PENDING' | 'FAILED' | 'CANCELLED';
  invoiceId?: string;
  customId?: string;
  /** seller_payable_breakdown: the fee PayPal gives back, what leaves the balance. */
  fee?: string;
  net?: string;
  live?: boolean;
  created?: Date;
}

/** A refund (Payments v2), as PAYMENT.CAPTURE.REFUNDED carries it; PAYMENT.CAPTURE.REVERSED carries one too. */
export function refundResource(o: RefundOptions): Record<string, unknown> {
  const id = o.id ?? paypalId();
  const currency = o.currency ?? 'USD';
  const time = paypalTime(o.created);
  return {
    id,
    amount: money(o.value, currency),
    ...(o.fee !== undefined && {
      seller_payable_breakdown: {
        gross_amount: money(o.value, currency),
        paypal_fee: money(o.fee, currency),
        net_amount: money(o.net ?? o.value, currency),
        total_refunded_amount: money(o.value, currency),
      },
    }),
    ...(o.invoiceId !== undefined && { invoice_id: o.invoiceId }),
    ...(o.customId !== undefined && { custom_id: o.customId }),
    status: o.status ?? 'COMPLETED',
    create_time: time,
    update_time: time,
    links: [link(`${apiHost(o.live)}/v2/payments/refunds/${id}`, 'self'), link(`${apiHost(o.live)}/v2/payments/captures/${o.captureId}`, 'up')],
  };
}

export interface DisputeOptions {
  id?: string;
  value: string;
  currency?: string;
  /** The disputed capture: its id is the dispute's seller_transaction_id. */
  captureId: string;
  status?: 'OPEN' | 'WAITING_FOR_BUYER_RESPONSE' | 'WAITING_FOR_SELLER_RESPONSE' | 'UNDER_REVIEW' | 'RESOLVED' | 'OTHER';
  reason?: string;
  outcome?: 'RESOLVED_BUYER_FAVOUR' | 'RESOLVED_SELLER_FAVOUR' | 'RESOLVED_WITH_PAYOUT' | 'CANCELED_BY_BUYER' | 'ACCEPTED' | 'DENIED' | 'NONE';
  invoiceNumber?: string;
  custom?: string;
  live?: boolean;
  created?: Date;
}

/** A dispute (Disputes v1), as CUSTOMER.DISPUTE.CREATED / .RESOLVED carry it. */
export function disputeResource(o: DisputeOptions): Record<string, unknown> {
  const id = o.id ?? `PP-D-${Math.floor(Math.random() * 1e6)}`;
  const currency = o.currency ?? 'USD';
  const time = paypalTime(o.created);
  return {
    dispute_id: id,
    create_time: time,
    update_time: time,
    disputed_transactions: [
      {
        seller_transaction_id: o.captureId,
        seller: { merchant_id: 'FAKEMERCHANT01' },
        create_time: time,
        transaction_status: 'COMPLETED',
        gross_amount: money(o.value, currency),
        ...(o.invoiceNumber !== undefined && { invoice_number: o.invoiceNumber }),
        ...(o.custom !== undefined && { custom: o.custom }),
        seller_protection_eligible: true,
      },
    ],
    reason: o.reason ?? 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
    status: o.status ?? 'OPEN',
    dispute_amount: money(o.value, currency),
    ...(o.outcome !== undefined && { dispute_outcome: { outcome_code: o.outcome, amount_refunded: money(o.outcome === 'RESOLVED_BUYER_FAVOUR' ? o.value : '0.00', currency) } }),
    dispute_life_cycle_stage: 'CHARGEBACK',
    dispute_channel: 'EXTERNAL',
    links: [link(`${apiHost(o.live)}/v1/customer/disputes/${id}`, 'self')],
  };
}

export interface OrderOptions {
  id?: string;
  value: string;
  currency?: string;
  status?: 'CREATED' | 'SAVED' | 'APPROVED' | 'VOIDED' | 'COMPLETED' | 'PAYER_ACTION_REQUIRED';
  invoiceId?: string;
  customId?: string;
  /** Once captured: the captures in the purchase unit. */
  captures?: Record<string, unknown>[];
  live?: boolean;
  created?: Date;
}

/** An order (Orders v2) with one purchase unit, as CHECKOUT.ORDER.APPROVED carries it. */
export function orderResource(o: OrderOptions): Record<string, unknown> {
  const id = o.id ?? paypalId();
  const currency = o.currency ?? 'USD';
  const time = paypalTime(o.created);
  const status = o.status ?? 'APPROVED';
  return {
    id,
    intent: 'CAPTURE',
    status,
    purchase_units: [
      {
        reference_id: 'default',
        amount: money(o.value, currency),
        payee: { merchant_id: 'FAKEMERCHANT01', email_address: 'merchant@example.com' },
        ...(o.invoiceId !== undefined && { invoice_id: o.invoiceId }),
        ...(o.customId !== undefined && { custom_id: o.customId }),
        ...(o.captures && { payments: { captures: o.captures } }),
      },
    ],
    ...(status !== 'CREATED' && {
      payer: { name: { given_name: 'Pat', surname: 'Payer' }, email_address: 'payer@example.com', payer_id: 'FAKEPAYER0001' },
    }),
    create_time: time,
    ...(status === 'COMPLETED' && { update_time: time }),
    links: [
      link(`${apiHost(o.live)}/v2/checkout/orders/${id}`, 'self'),
      ...(status === 'CREATED' ? [link(`https://www.${o.live ? '' : 'sandbox.'}paypal.com/checkoutnow?token=${id}`, 'approve')] : []),
      ...(status === 'APPROVED' ? [link(`${apiHost(o.live)}/v2/checkout/orders/${id}/capture`, 'capture', 'POST')] : []),
    ],
  };
}

/** `resource_type` as PayPal writes it: the handled types' resources, an order being a `checkout-order`. */
const RESOURCE_TYPES: Record<string, string> = Object.fromEntries(
  Object.entries(PAYPAL_EVENT_RESOURCES).map(([eventType, resource]) => [eventType, resource === 'order' ? 'checkout-order' : resource]),
);

/** The envelope PayPal posts: id WH-…, event_type, resource_type, a summary, the resource, links to resend it. */
export function paypalEvent(eventType: string, resource: Record<string, unknown>, o: { id?: string; created?: Date; live?: boolean } = {}): Record<string, unknown> {
  const id = o.id ?? `WH-${paypalId(17)}-${paypalId(17)}`;
  const amount = (resource.amount ?? resource.dispute_amount ?? (resource.purchase_units as { amount?: unknown }[] | undefined)?.[0]?.amount) as
    | { value: string; currency_code: string }
    | undefined;
  return {
    id,
    event_version: '1.0',
    create_time: new Date(o.created ?? Date.now()).toISOString(),
    resource_type: RESOURCE_TYPES[eventType] ?? 'unknown',
    resource_version: '2.0',
    event_type: eventType,
    summary: `${eventType.toLowerCase().replace(/\./g, ' ')}${amount ? ` for ${amount.value} ${amount.currency_code}` : ''}`,
    resource,
    links: [
      link(`${apiHost(o.live)}/v1/notifications/webhooks-events/${id}`, 'self'),
      link(`${apiHost(o.live)}/v1/notifications/webhooks-events/${id}/resend`, 'resend', 'POST'),
    ],
  };
}
