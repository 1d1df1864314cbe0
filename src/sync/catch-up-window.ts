import { AppError } from '../shared/errors.js';

const DAY_MS = 86_400_000;

/** How far back the first catch-up of an account lists: as long as Stripe retries a delivery. */
export const FIRST_RUN_LOOKBACK_MS = 3 * DAY_MS;
/** Stripe keeps events for 30 days, and PayPal lists event notifications of the last 30: nothing older can be listed. */
export const STRIPE_EVENT_RETENTION_MS = 30 * DAY_MS;
/**
 * The next run lists from the start of the last successful one minus this: events Stripe shows in
 * its list a little after they happened, and the grace below, are listed again (and found had).
 */
export const WATERMARK_MARGIN_MS = 10 * 60_000;
/**
 * Events of the last two minutes are left to their delivery: listed now, each would race its own
 * webhook and count as recovered when nothing was missed. The next run lists them.
 */
export const LIVE_DELIVERY_GRACE_MS = 2 * 60_000;

export interface CatchUpWindow {
  since: Date;
  until: Date;
  /**
   * The window covers everything the account's automatic run would list (it starts no later and
   * ends no earlier), so a success moves the account's watermark to this run's start.
   */
  coversAccount: boolean;
}

/**
 * Which events a catch-up lists, by `created`: from the start of the last run that covered the
 * account (its watermark) minus a margin, or 3 days back on the first run; never more than the
 * 30 days Stripe keeps; up to two minutes ago. Not "since the newest event seen": after an
 * outage, the newest deliveries are newer than the ones that were lost. An operator's `since`
 * or `until` replaces either end (a `since` older than 30 days is refused, not shortened).
 */
export function catchUpWindow(options: { now: Date; watermark: Date | null; since?: Date; until?: Date; gatewayName?: 'Stripe' | 'PayPal' }): CatchUpWindow {
  const gateway = options.gatewayName ?? 'Stripe';
  const now = options.now.getTime();
  const oldest = now - STRIPE_EVENT_RETENTION_MS;
  const automatic = Math.max(options.watermark ? options.watermark.getTime() - WATERMARK_MARGIN_MS : now - FIRST_RUN_LOOKBACK_MS, oldest);
  const latest = now - LIVE_DELIVERY_GRACE_MS;
  if (options.since && options.since.getTime() < oldest - 60_000) {
    throw new AppError(400, 'invalid_since', `since must be within the last 30 days: ${gateway} keeps events for 30 days, older ones cannot be listed.`, { field: 'since' });
  }
  const since = options.since ? Math.max(options.since.getTime(), oldest) : automatic;
  const until = options.until ? Math.min(options.until.getTime(), now) : latest;
  if (since > until) {
    throw new AppError(400, 'invalid_since', 'since must be before until (and at least two minutes ago: newer events are left to their delivery).', { field: 'since' });
  }
  return { since: new Date(since), until: new Date(until), coversAccount: since <= automatic && until >= latest };
}
