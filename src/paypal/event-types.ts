/**
 * The PayPal event types this service will handle, and the resource each one carries. The webhook
 * a connection creates subscribes to exactly these (src/paypal/paypal-webhooks.ts). Phase 2 hangs
 * a handler on each, beside Stripe's in src/events/subscribed-events.ts.
 *
 * - PAYMENT.CAPTURE.COMPLETED / .PENDING / .DENIED: a capture (money taken, held for review, refused).
 * - PAYMENT.CAPTURE.REFUNDED: a refund of a capture. PAYMENT.CAPTURE.REVERSED: PayPal took the money
 *   back (a chargeback or a reversal); PayPal renders it as a refund resource too.
 * - CUSTOMER.DISPUTE.CREATED / .RESOLVED: a dispute about a capture (its seller transaction id).
 * - CHECKOUT.ORDER.APPROVED: the payer approved an order: links the order to its invoice; no money moved yet.
 */
export const PAYPAL_EVENT_RESOURCES = {
  'PAYMENT.CAPTURE.COMPLETED': 'capture',
  'PAYMENT.CAPTURE.PENDING': 'capture',
  'PAYMENT.CAPTURE.DENIED': 'capture',
  'PAYMENT.CAPTURE.REFUNDED': 'refund',
  'PAYMENT.CAPTURE.REVERSED': 'refund',
  'CUSTOMER.DISPUTE.CREATED': 'dispute',
  'CUSTOMER.DISPUTE.RESOLVED': 'dispute',
  'CHECKOUT.ORDER.APPROVED': 'order',
} as const;

export type PaypalEventType = keyof typeof PAYPAL_EVENT_RESOURCES;
export type PaypalResourceKind = (typeof PAYPAL_EVENT_RESOURCES)[PaypalEventType];

export const PAYPAL_EVENT_TYPES = Object.keys(PAYPAL_EVENT_RESOURCES) as PaypalEventType[];

export const isPaypalEventType = (type: string): type is PaypalEventType => Object.hasOwn(PAYPAL_EVENT_RESOURCES, type);
