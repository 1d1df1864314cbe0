import type Stripe from 'stripe';
import type { EventHandler, HandlerContext, HandlerOutcome, PaymentTarget } from '../events/handler-registry.js';
import { linkInvoice, lockPayment, recomputeBeforeCommit, type PaymentRow } from './payment-ledger.js';

/** What writing an event's facts did: `stale` when the stored facts were already newer. */
export type WriteResult = 'applied' | 'stale';

/**
 * The frame every payment-related handler runs in: lock the payment and its
 * invoice, write the event's facts, have the invoice re-derived before the
 * commit. A payment that matches no invoice is still recorded, as an unmatched
 * payment. Writes whose results nobody reads are deferred (`manager.defer`):
 * they ride with the next statement. Alone, a payment or charge event costs one
 * round trip for its locks besides its transaction's load, facts read and
 * commit; in a batch its locks were taken up front with everyone's
 * (`lockPaymentsUpFront`) and it costs none. Refunds, disputes and declines
 * read their own row once more.
 */
export async function applyToPayment(
  context: HandlerContext,
  paymentId: string,
  referencedInvoiceId: string | null | undefined,
  write: (payment: PaymentRow) => Promise<WriteResult>,
): Promise<HandlerOutcome | void> {
  const { manager, accountId, event } = context;
  const locked = await lockPayment(manager, paymentId, { accountId, livemode: event.livemode }, referencedInvoiceId);
  const { payment } = locked;
  // A payment belongs to the account whose events created it: a merchant who can sign events for
  // their own endpoint must not be able to refund or dispute another merchant's payment.
  if (payment.account_id !== accountId) return { ignored: 'account_mismatch' };
  const wasLinked = payment.invoice_id !== null;
  const link = linkInvoice(manager, locked, referencedInvoiceId, accountId);
  const result = await write(payment);
  const newlyLinked = !wasLinked && link.invoice !== null;
  if (result === 'stale' && !newlyLinked) return { ignored: 'stale' };
  if (link.invoice) recomputeBeforeCommit(manager, link.invoice, context.logger);
  else context.logger.debug('payment matches no invoice', { paymentId, reason: 'unmatchedReason' in link ? link.unmatchedReason : null });
}

/**
 * A handler for an event about one payment, in two parts: `target` reads from
 * the event alone which payment it is about and which invoice it names (or why
 * it applies nothing: an invalid amount, no payment at all), and `write`
 * records the event's facts on the locked payment. Knowing the payment before
 * any lock lets a batch of events lock all its payments and invoices up front
 * (`lockTarget`); a lone event locks its own in `applyToPayment`.
 */
export function paymentHandler(
  target: (event: Stripe.Event) => PaymentTarget | HandlerOutcome,
  write: (context: HandlerContext, payment: PaymentRow, target: PaymentTarget) => Promise<WriteResult>,
): EventHandler {
  const handler: EventHandler = async (context) => {
    const found = target(context.event);
    if (!('paymentId' in found)) return found;
    return applyToPayment(context, found.paymentId, found.referencedInvoiceId, (payment) => write(context, payment, found));
  };
  handler.lockTarget = (event) => {
    const found = target(event);
    return 'paymentId' in found ? found : null;
  };
  return handler;
}

/**
 * Amounts in a signed event are still input: a value that is not a whole number
 * in the safe range (1e400, 2^64) cannot be stored exactly, and retrying will not
 * change it. The event is ignored as `invalid_object` instead of failing for hours.
 */
export const INVALID_OBJECT = { ignored: 'invalid_object' } as const;
export const safeAmounts = (...values: (number | null | undefined)[]) =>
  values.every((value) => value === null || value === undefined || (Number.isSafeInteger(value) && value >= 0));

/** Stripe's expandable fields hold an id or the expanded object. */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}
