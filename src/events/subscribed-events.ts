import type { HandlerRegistry } from './handler-registry.js';
import { onPaymentIntent } from '../billing/payment-intent.handlers.js';
import { onCharge } from '../billing/charge.handlers.js';
import { onRefund } from '../billing/refund.handlers.js';
import { onDispute } from '../billing/dispute.handlers.js';
import { onCheckoutSessionCompleted } from '../billing/checkout.handlers.js';
import { onPayout } from '../billing/payout.handlers.js';
import { onPaypalCapture, onPaypalDispute, onPaypalOrderApproved, onPaypalRefund } from '../billing/paypal.handlers.js';
import { PAYPAL_EVENT_TYPES, type PaypalEventType } from '../paypal/event-types.js';

/**
 * Every event type this service handles, for both gateways, each with its handler: find where a
 * type is handled here, in one step. Stripe's types are lower-case and PayPal's upper-case, and each
 * gateway's intake accepts only its own form, so one registry serves both without a clash.
 */

/** Stripe: the types Stripe webhook endpoints are created for. */
export const stripeEventHandlers: HandlerRegistry = {
  'payment_intent.succeeded': onPaymentIntent,
  'payment_intent.payment_failed': onPaymentIntent,
  'payment_intent.processing': onPaymentIntent,
  'payment_intent.canceled': onPaymentIntent,
  'charge.succeeded': onCharge,
  'charge.captured': onCharge,
  'charge.refunded': onCharge,
  'charge.expired': onCharge,
  'charge.refund.updated': onRefund,
  'refund.created': onRefund,
  'refund.updated': onRefund,
  'refund.failed': onRefund,
  'charge.dispute.created': onDispute,
  'charge.dispute.updated': onDispute,
  'charge.dispute.funds_withdrawn': onDispute,
  'charge.dispute.funds_reinstated': onDispute,
  'charge.dispute.closed': onDispute,
  'checkout.session.completed': onCheckoutSessionCompleted,
  'payout.created': onPayout,
  'payout.paid': onPayout,
  'payout.failed': onPayout,
  'payout.canceled': onPayout,
  'payout.reconciliation_completed': onPayout,
};

/** PayPal: the types of src/paypal/event-types.ts, which the webhook made at PayPal subscribes to. */
export const paypalEventHandlers: Readonly<Record<PaypalEventType, HandlerRegistry[string]>> = {
  'PAYMENT.CAPTURE.COMPLETED': onPaypalCapture,
  'PAYMENT.CAPTURE.PENDING': onPaypalCapture,
  'PAYMENT.CAPTURE.DENIED': onPaypalCapture,
  'PAYMENT.CAPTURE.REFUNDED': onPaypalRefund,
  'PAYMENT.CAPTURE.REVERSED': onPaypalRefund,
  'CUSTOMER.DISPUTE.CREATED': onPaypalDispute,
  'CUSTOMER.DISPUTE.RESOLVED': onPaypalDispute,
  'CHECKOUT.ORDER.APPROVED': onPaypalOrderApproved,
};

/** What the workers run: both gateways'. */
export const eventHandlers: HandlerRegistry = { ...stripeEventHandlers, ...paypalEventHandlers };

/** The Stripe event types subscribed to (Stripe endpoints, the catch-up's and drift check's lists). */
export const SUBSCRIBED_EVENT_TYPES: readonly string[] = Object.keys(stripeEventHandlers);

/** Every handled type, both gateways: what the registry must match at start-up. */
export const HANDLED_EVENT_TYPES: readonly string[] = [...SUBSCRIBED_EVENT_TYPES, ...PAYPAL_EVENT_TYPES];
