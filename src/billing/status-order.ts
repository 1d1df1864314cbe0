import { ownValue } from '../shared/own-key.js';

/**
 * Stripe delivers events in any order. Each object's status moves forward
 * only: a status applies when it ranks higher than the stored one, or ranks the
 * same and comes from an event at least as new. Anything else is stale.
 */

const PAYMENT_INTENT_RANK: Record<string, number> = {
  requires_payment_method: 0,
  requires_confirmation: 0,
  requires_action: 0,
  processing: 1,
  requires_capture: 1,
  // Terminal: a PaymentIntent never leaves these.
  succeeded: 2,
  canceled: 2,
};

const REFUND_RANK: Record<string, number> = {
  pending: 0,
  requires_action: 0,
  succeeded: 1,
  // A succeeded refund can still fail later (Stripe sends refund.failed); same rank, newer event wins.
  failed: 1,
  canceled: 1,
};

const DISPUTE_RANK: Record<string, number> = {
  warning_needs_response: 0,
  warning_under_review: 0,
  needs_response: 0,
  under_review: 0,
  won: 1,
  lost: 1,
  warning_closed: 1,
  prevented: 1,
};

export interface StatusFact {
  status: string | null;
  eventCreated: number;
}

function moves(ranks: Record<string, number>, terminalRank: number | undefined, current: StatusFact, next: StatusFact): boolean {
  if (current.status === null) return true;
  // Statuses come from signed payloads: own entries only (a status "constructor" is no rank).
  const from = ownValue(ranks, current.status) ?? 0;
  const to = ownValue(ranks, next.status ?? '') ?? 0;
  if (terminalRank !== undefined && from === terminalRank) return next.status === current.status;
  if (to !== from) return to > from;
  return next.eventCreated >= current.eventCreated;
}

/**
 * A payout moves pending → in_transit → paid, and a paid payout can still fail (the bank returns
 * it days later), so failed and canceled rank above paid.
 */
const PAYOUT_RANK: Record<string, number> = { pending: 0, in_transit: 1, paid: 2, failed: 3, canceled: 3 };

/**
 * A PayPal capture, its status as PayPal writes it in lower case: pending (held for review) →
 * completed (money taken) or declined / failed (none); all three final. A capture PayPal shows later
 * as refunded or partially_refunded is a completed one (refunds are facts of their own).
 */
const PAYPAL_CAPTURE_RANK: Record<string, number> = { pending: 0, completed: 1, declined: 1, failed: 1 };

export const paymentIntentStatusMoves = (current: StatusFact, next: StatusFact) =>
  moves(PAYMENT_INTENT_RANK, 2, current, next);
export const paypalCaptureStatusMoves = (current: StatusFact, next: StatusFact) => moves(PAYPAL_CAPTURE_RANK, 1, current, next);
export const refundStatusMoves = (current: StatusFact, next: StatusFact) => moves(REFUND_RANK, undefined, current, next);
export const disputeStatusMoves = (current: StatusFact, next: StatusFact) => moves(DISPUTE_RANK, undefined, current, next);
export const payoutStatusMoves = (current: StatusFact, next: StatusFact) => moves(PAYOUT_RANK, undefined, current, next);

/** The status moves and is not the very fact already stored (same status from an event of the same second). */
export const changesStatus = (statusMoves: (current: StatusFact, next: StatusFact) => boolean, current: StatusFact, next: StatusFact) =>
  statusMoves(current, next) && !(current.status === next.status && current.eventCreated === next.eventCreated);

/** Refunds that take (or will take) money back: not failed, not canceled. */
export const refundCounts = (status: string) => status !== 'failed' && status !== 'canceled';

/**
 * The dispute is open, or was lost: either way the money is not the merchant's. Inquiries
 * (`warning_*`) take no money and do not count.
 */
export const disputeHoldsFunds = (status: string) => status === 'needs_response' || status === 'under_review' || status === 'lost';
