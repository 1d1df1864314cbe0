import type { Tx } from '../db/folded-transaction.js';
import type Stripe from 'stripe';
import type { Logger } from '../shared/logger.js';
import { ownValue } from '../shared/own-key.js';

export interface HandlerContext {
  event: Stripe.Event;
  /** The merchant account the event was delivered for; null for the default account. */
  accountId: string | null;
  /** The inbox row's mode: a Stripe event's `livemode`, a PayPal event's connection mode. Left out: the event's own `livemode`. */
  livemode?: boolean;
  /**
   * The transaction's own manager: the effect and the event's status commit together.
   * `manager.defer` queues a write whose result nobody reads (the invoice's new totals, a
   * fact's row): it is sent with the transaction's next statement instead of a round trip
   * of its own. Other events may run before and after this one in the same transaction.
   */
  manager: Tx;
  logger: Logger;
}

/**
 * What a handler reports when it applied nothing on purpose (`stale`, `account_mismatch`,
 * `invalid_object`...). A payment that matches no invoice is not this: it is recorded (an
 * unmatched payment, `payments.unmatched_reason`) and the event is `processed`.
 */
export interface HandlerOutcome {
  ignored?: string;
}

/** A fact row (a charge, refund or dispute) an event writes, by its Stripe id. */
export interface FactRef {
  table: 'charges' | 'refunds' | 'disputes';
  id: string;
}

/** The payment row a handler works on, the invoice its event names (if any), and the fact row it writes (if any). */
export interface PaymentTarget {
  paymentId: string;
  referencedInvoiceId: string | null | undefined;
  /** Read with the payment's lock, in the same round trip: who holds it decides whether the event may write it. */
  fact?: FactRef;
}

export interface EventHandler {
  (context: HandlerContext): Promise<HandlerOutcome | void>;
  /**
   * For handlers that lock one payment (and its invoice): which payment the event will lock,
   * read from the event alone, or null when it will lock none. A batch locks all its events'
   * payments and invoices up front, in id order, in two statements (events/process-event.ts).
   */
  lockTarget?: (event: Stripe.Event) => PaymentTarget | null;
}

/**
 * A step before an event's transaction, for events their handlers cannot read as delivered (a
 * Stripe event rendered in an API version older than supported: its object is fetched again).
 * `needed` is asked of every event and must be cheap; `prepare` returns the event to apply, or
 * throws (an EventRejectedError fails the event at once; anything else is retried).
 */
export interface EventPreparer {
  needed(event: Stripe.Event): boolean;
  prepare(event: Stripe.Event, accountId: string | null): Promise<Stripe.Event>;
}

export type HandlerRegistry = Readonly<Record<string, EventHandler>>;

/**
 * The handler for an event type, or undefined: the type comes from a signed payload, and a
 * merchant can sign `constructor` or `__proto__` (Object.prototype's, not handlers).
 */
export const handlerFor = (registry: HandlerRegistry, type: string): EventHandler | undefined => ownValue(registry, type);

/**
 * Start-up check: every subscribed type has a handler, and no handler exists for
 * a type nobody subscribes to (a typo would otherwise never run).
 */
export function assertRegistryMatches(registry: HandlerRegistry, subscribed: readonly string[]): void {
  const missing = subscribed.filter((type) => !handlerFor(registry, type));
  const extra = Object.keys(registry).filter((type) => !subscribed.includes(type));
  const problems: string[] = [];
  if (missing.length) problems.push(`no handler for ${missing.join(', ')}: add one to the registry`);
  if (extra.length) problems.push(`handlers for types not subscribed: ${extra.join(', ')}: add them to the subscribed types (SUBSCRIBED_EVENT_TYPES; PayPal's: PAYPAL_EVENT_TYPES) or remove them`);
  if (problems.length) throw new Error(`Event handler registry: ${problems.join('; ')}`);
}
