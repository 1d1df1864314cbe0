import type Stripe from 'stripe';
import type { EventHandler, HandlerContext, HandlerOutcome, PaymentTarget } from '../events/handler-registry.js';
import { linkInvoice, lockPayment, recomputeBeforeCommit, storedFact, type PaymentRow, type StoredFact } from './payment-ledger.js';
import { accountScope } from '../shared/account-scope.js';

/** What writing an event's facts did: `stale` when the stored facts were already newer. */
export type WriteResult = 'applied' | 'stale';

/**
 * The frame every payment-related handler runs in: lock the payment and its
 * invoice, write the event's facts, have the invoice re-derived before the
 * commit. A payment that matches no invoice is still recorded, as an unmatched
 * payment. Writes whose results nobody reads are deferred (`manager.defer`):
 * they ride with the next statement. Alone, a payment or charge event costs one
 * round trip for its locks (and the fact row it writes, read with them) besides
 * its transaction's load, facts read and commit; in a batch its locks were taken
 * up front with everyone's (`lockPaymentsUpFront`) and it costs none. Declines
 * write their own row once more.
 *
 * Every merchant can sign any payload for its own endpoint, so what a signed
 * event names is checked against who holds it before anything is written: the
 * payment must be the event's account's, and the fact row (charge, refund,
 * dispute) must be new or already the payment's (see `StoredFact`).
 */
export async function applyToPayment(
  context: HandlerContext,
  target: PaymentTarget,
  write: (payment: PaymentRow, stored: StoredFact | null) => Promise<WriteResult>,
): Promise<HandlerOutcome | void> {
  const { manager, accountId, event } = context;
  const { paymentId, referencedInvoiceId, fact } = target;
  const locked = await lockPayment(manager, paymentId, { accountId, livemode: context.livemode ?? event.livemode }, referencedInvoiceId, fact);
  const { payment } = locked;
  // A payment belongs to the account whose events created it: a merchant who can sign events for
  // their own endpoint must not be able to refund or dispute another merchant's payment.
  if (payment.account_id !== accountId) return { ignored: 'account_mismatch' };
  const stored = fact ? await storedFact(manager, fact) : null;
  // Nor name another account's charge, refund or dispute under a payment of its own; and within one
  // account a fact stays on the payment that first recorded it (Stripe never moves one).
  if (stored && stored.accountScope !== accountScope(accountId)) return { ignored: 'account_mismatch' };
  if (stored && stored.paymentId !== payment.id) return { ignored: 'payment_mismatch' };
  const wasLinked = payment.invoice_id !== null;
  const link = linkInvoice(manager, locked, referencedInvoiceId, accountId);
  const result = await write(payment, stored);
  const newlyLinked = !wasLinked && link.invoice !== null;
  if (result === 'stale' && !newlyLinked) return { ignored: 'stale' };
  if (link.invoice) recomputeBeforeCommit(manager, link.invoice, context.logger);
  else context.logger.debug('payment matches no invoice', { paymentId, reason: 'unmatchedReason' in link ? link.unmatchedReason : null });
}

/**
 * A handler for an event about one payment, in three parts: `read` turns the event's object into
 * the internal shape (src/stripe/objects: any supported API version, fields checked; a bad field
 * rejects the event as `invalid_object`), `target` says from it which payment it is about, which
 * invoice it names and which fact row it writes (or why it applies nothing), and `write` records
 * the event's facts on the locked payment, given the fact row as stored (null: new). Knowing the
 * payment before any lock lets a batch of events lock all its payments and invoices up front
 * (`lockTarget`); a lone event locks its own in `applyToPayment`. The object is read once per event.
 */
export function paymentHandler<View>(
  read: (event: Stripe.Event) => View,
  target: (view: View) => PaymentTarget | HandlerOutcome,
  write: (context: HandlerContext, view: View, payment: PaymentRow, target: PaymentTarget, stored: StoredFact | null) => Promise<WriteResult>,
): EventHandler {
  const views = new WeakMap<Stripe.Event, View>();
  const viewOf = (event: Stripe.Event) => {
    let view = views.get(event);
    if (view === undefined) views.set(event, (view = read(event)));
    return view;
  };
  const handler: EventHandler = async (context) => {
    const view = viewOf(context.event);
    const found = target(view);
    if (!('paymentId' in found)) return found;
    return applyToPayment(context, found, (payment, stored) => write(context, view, payment, found, stored));
  };
  handler.lockTarget = (event) => {
    let found: PaymentTarget | HandlerOutcome;
    try {
      found = target(viewOf(event));
    } catch {
      // A rejected object locks nothing: its handler rejects it when it runs.
      return null;
    }
    return 'paymentId' in found ? found : null;
  };
  return handler;
}
