import type Stripe from 'stripe';
import type { EventPreparer } from '../events/handler-registry.js';
import { AppError, EventRejectedError } from '../shared/errors.js';
import type { StripeClients } from './stripe-clients.js';
import { isOlderThanSupported, OLDEST_SUPPORTED_API_VERSION, PINNED_API_VERSION } from './api-version.js';

/** How to fetch an event's object again, by the event type's prefix (longest first). */
const RETRIEVERS: [prefix: string, retrieve: (stripe: Stripe, id: string) => Promise<unknown>][] = [
  ['charge.dispute.', (stripe, id) => stripe.disputes.retrieve(id)],
  ['charge.refund.', (stripe, id) => stripe.refunds.retrieve(id)],
  ['charge.', (stripe, id) => stripe.charges.retrieve(id)],
  ['refund.', (stripe, id) => stripe.refunds.retrieve(id)],
  ['payment_intent.', (stripe, id) => stripe.paymentIntents.retrieve(id)],
  ['payout.', (stripe, id) => stripe.payouts.retrieve(id)],
  ['checkout.session.', (stripe, id) => stripe.checkout.sessions.retrieve(id)],
];

const fix = (event: Stripe.Event) =>
  `Event ${event.id} is rendered in Stripe API version ${event.api_version}, older than the oldest this service reads (${OLDEST_SUPPORTED_API_VERSION}). ` +
  `Fix: Stripe Dashboard > Developers > Webhooks > the endpoint > update its API version (to ${PINNED_API_VERSION}), or connect the account's secret key ` +
  'so the service fetches such objects itself; then replay the event (POST /api/ops/events/:id/replay).';

/**
 * Events older than the supported range: their object is fetched again from Stripe, in the pinned
 * version, with the account's key (the default account's STRIPE_SECRET_KEY, a merchant's stored
 * key), and applied in the event's place. It is the object as it is now, not as it was then: the
 * handlers' order guards (event.created, statuses that only move forward) take it as such.
 * Without a key the event fails at once as `unsupported_api_version`, saying how to fix it.
 */
export function createOutdatedEventRefresher(clients: StripeClients): EventPreparer {
  return {
    needed: (event) => isOlderThanSupported(event.api_version),
    async prepare(event, accountId) {
      const retrieve = RETRIEVERS.find(([prefix]) => event.type.startsWith(prefix))?.[1];
      const object = event.data?.object as { id?: unknown } | undefined;
      if (!retrieve || typeof object?.id !== 'string') throw new EventRejectedError('unsupported_api_version', fix(event));
      let stripe: Stripe;
      try {
        stripe = await clients.forAccount(accountId);
      } catch (error) {
        if (error instanceof AppError && error.code === 'stripe_not_connected') throw new EventRejectedError('unsupported_api_version', fix(event));
        throw error;
      }
      // A failure to reach Stripe is retried as any other failure.
      const fresh = await retrieve(stripe, object.id);
      return { ...event, api_version: PINNED_API_VERSION, data: { ...event.data, object: fresh } } as Stripe.Event;
    },
  };
}
