import type { HandlerRegistry } from './handler-registry.js';
import { onPaymentIntent } from '../billing/payment-intent.handlers.js';
import { onCharge } from '../billing/charge.handlers.js';
import { onRefund } from '../billing/refund.handlers.js';
import { onDispute } from '../billing/dispute.handlers.js';
import { onCheckoutSessionCompleted } from '../billing/checkout.handlers.js';
import { onPayout } from '../billing/payout.handlers.js';

/**
 * The event types this service subscribes to (and creates webhook endpoints
 * for), each with its handler. Find where a type is handled here, in one step.
 */
export const eventHandlers: HandlerRegistry = {
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

export const SUBSCRIBED_EVENT_TYPES: readonly string[] = Object.keys(eventHandlers);
