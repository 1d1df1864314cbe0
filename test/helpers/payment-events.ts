import type Stripe from 'stripe';
import { stripeEvent, uniqueId } from './stripe-events.js';

/**
 * Stripe-shaped events for one payment of one invoice: a PaymentIntent, its
 * charge, refunds and disputes, with the links Stripe puts between them.
 */
export interface PaymentScenario {
  invoiceId: string | null;
  currency?: string;
  amount: number;
  paymentIntentId?: string;
  chargeId?: string;
  /** The API version every event is rendered in (default: the builders' own). */
  apiVersion?: string;
}

export function paymentEvents(scenario: PaymentScenario) {
  const currency = scenario.currency ?? 'usd';
  const pi = scenario.paymentIntentId ?? uniqueId('pi');
  const ch = scenario.chargeId ?? uniqueId('ch');
  const metadata = scenario.invoiceId ? { invoice_id: scenario.invoiceId } : {};
  let clock = 1_760_000_000;
  const at = (created?: number) => created ?? (clock += 10);
  const versioned = (event: Stripe.Event): Stripe.Event => (scenario.apiVersion ? ({ ...event, api_version: scenario.apiVersion } as Stripe.Event) : event);

  return {
    paymentIntentId: pi,
    chargeId: ch,
    paymentIntent(
      type: 'payment_intent.succeeded' | 'payment_intent.processing' | 'payment_intent.payment_failed' | 'payment_intent.canceled',
      options: { created?: number; declineMessage?: string; amountReceived?: number } = {},
    ): Stripe.Event {
      const status = {
        'payment_intent.succeeded': 'succeeded',
        'payment_intent.processing': 'processing',
        'payment_intent.payment_failed': 'requires_payment_method',
        'payment_intent.canceled': 'canceled',
      }[type];
      return versioned(stripeEvent({
        type,
        resource: 'payment_intent',
        created: at(options.created),
        object: {
          id: pi,
          amount: scenario.amount,
          amount_received: status === 'succeeded' ? (options.amountReceived ?? scenario.amount) : 0,
          currency,
          status,
          metadata,
          latest_charge: status === 'succeeded' ? ch : type === 'payment_intent.payment_failed' ? `${ch}_declined` : null,
          canceled_at: null,
          last_payment_error:
            type === 'payment_intent.payment_failed'
              ? { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: options.declineMessage ?? 'Your card has insufficient funds.' }
              : null,
        },
      }));
    },
    /** `captured: false`: an authorization not (yet) captured; `amountCaptured`: a partial capture. */
    charge(
      type: 'charge.succeeded' | 'charge.captured' | 'charge.refunded' | 'charge.expired',
      options: { amountRefunded?: number; created?: number; captured?: boolean; amountCaptured?: number } = {},
    ): Stripe.Event {
      const amountRefunded = options.amountRefunded ?? 0;
      const captured = options.captured ?? true;
      return versioned(stripeEvent({
        type,
        resource: 'charge',
        created: at(options.created),
        object: {
          id: ch,
          payment_intent: pi,
          amount: scenario.amount,
          amount_captured: captured ? (options.amountCaptured ?? scenario.amount) : 0,
          captured,
          paid: true,
          status: 'succeeded',
          currency,
          amount_refunded: amountRefunded,
          refunded: amountRefunded >= scenario.amount,
          metadata: {},
          balance_transaction: uniqueId('txn'),
        },
      }));
    },
    refund(
      type: 'refund.created' | 'refund.updated' | 'refund.failed' | 'charge.refund.updated',
      options: { id: string; amount: number; status: 'pending' | 'succeeded' | 'failed' | 'canceled'; created?: number },
    ): Stripe.Event {
      return versioned(stripeEvent({
        type,
        resource: 'refund',
        created: at(options.created),
        object: {
          id: options.id,
          amount: options.amount,
          status: options.status,
          charge: ch,
          payment_intent: pi,
          currency,
          failure_reason: options.status === 'failed' ? 'expired_or_canceled_card' : null,
        },
      }));
    },
    dispute(
      type: 'charge.dispute.created' | 'charge.dispute.updated' | 'charge.dispute.funds_withdrawn' | 'charge.dispute.funds_reinstated' | 'charge.dispute.closed',
      options: { id: string; amount: number; status: string; created?: number },
    ): Stripe.Event {
      return versioned(stripeEvent({
        type,
        resource: 'dispute',
        created: at(options.created),
        object: { id: options.id, amount: options.amount, status: options.status, charge: ch, payment_intent: pi, currency },
      }));
    },
    checkoutCompleted(options: { clientReferenceId?: string | null; created?: number } = {}): Stripe.Event {
      return versioned(stripeEvent({
        type: 'checkout.session.completed',
        resource: 'checkout.session',
        created: at(options.created),
        object: {
          id: uniqueId('cs'),
          payment_intent: pi,
          client_reference_id: options.clientReferenceId ?? scenario.invoiceId,
          metadata: {},
          mode: 'payment',
          payment_status: 'paid',
          status: 'complete',
          amount_total: scenario.amount,
          currency,
        },
      }));
    },
  };
}
