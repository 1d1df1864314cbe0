import Stripe from 'stripe';

/**
 * The Stripe API versions this service reads, and where their shapes differ. Every
 * version-dependent rule lives in src/stripe/objects/ and reads these boundaries; nothing
 * else in the service knows an API version.
 *
 * Supported: OLDEST_SUPPORTED_API_VERSION up to PINNED_API_VERSION (stripe-node's own, which
 * the endpoints this service creates are pinned to). An event of a newer version is read as
 * the pinned shape. An event of an older version is not read at all: its object is fetched
 * again from Stripe in the pinned version (src/stripe/outdated-events.ts).
 */
export const PINNED_API_VERSION: string = Stripe.API_VERSION;
export const OLDEST_SUPPORTED_API_VERSION = '2020-08-27';

export const BOUNDARIES = {
  /** `charge.refunds` no longer expanded; `PaymentIntent.charges` removed (`latest_charge` instead). */
  chargeRefundsNotExpanded: '2022-11-15',
  /** Card refunds' status changes come as `refund.updated` / `refund.failed`; before, as `charge.refund.updated`. */
  refundEventsForCards: '2024-10-28',
  /** A partial capture or a released authorization no longer raises `amount_refunded` nor sends `charge.refunded`. */
  uncapturedNotRefunded: '2025-03-31',
} as const;

/** `2025-03-31.basil` → `2025-03-31`: versions compare by their date. */
const dateOf = (version: string) => version.slice(0, 10);

/**
 * Whether an event rendered in `version` predates `boundary`. An event without a version
 * (never seen from Stripe, but possible in a hand-made payload) is read as the pinned shape.
 */
export function isBefore(version: string | null | undefined, boundary: string): boolean {
  return typeof version === 'string' && dateOf(version) < boundary;
}

/** Too old to read: its object must be fetched again in the pinned version. */
export const isOlderThanSupported = (version: string | null | undefined) => isBefore(version, OLDEST_SUPPORTED_API_VERSION);
