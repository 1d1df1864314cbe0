import type Stripe from 'stripe';
import type { HandlerContext } from '../events/handler-registry.js';
import { paymentHandler, type WriteResult } from './apply-to-payment.js';
import { rememberFact, storedFact, type StoredFact } from './payment-ledger.js';
import { changesStatus, disputeStatusMoves, paypalCaptureStatusMoves, refundStatusMoves } from './status-order.js';
import { accountScope } from '../shared/account-scope.js';
import { readPaypalResource, type PaypalObjectView } from '../paypal/objects/paypal-objects.js';
import { ownValue } from '../shared/own-key.js';

/**
 * PayPal's events (src/paypal/event-types.ts) on the same facts as Stripe's, in the same frame
 * (apply-to-payment.ts: the payment and its invoice locked, account checks, the invoice re-derived
 * before the commit). A PayPal payment is one capture: its id is the capture id, which every
 * capture, refund, reversal and dispute event names, so whichever arrives first creates the payment
 * and the others find it. Every row written says `gateway = 'paypal'`.
 *
 * Statuses move forward only, as Stripe's (status-order.ts), ordered by the resource's
 * `update_time` (else its `create_time`, else the event's): any delivery order ends the same.
 */

/** The event as stored: PayPal's envelope, not Stripe's (the registry types both as Stripe's). */
const read = (event: Stripe.Event): PaypalObjectView => readPaypalResource(event as unknown as { id?: unknown; event_type?: unknown; resource?: unknown });

/** When the resource last changed, in unix seconds: what orders two events about it. */
function changedAt(view: PaypalObjectView, event: Stripe.Event): number {
  const created = (event as unknown as { create_time?: unknown }).create_time;
  const eventTime = typeof created === 'string' ? Math.floor(Date.parse(created) / 1000) : NaN;
  return view.updated ?? view.created ?? (Number.isFinite(eventTime) ? eventTime : 0);
}

/** Whichever PayPal event made the payment row, the row is PayPal's (rides with the next statement). */
const markPaypal = ({ manager }: HandlerContext, paymentId: string) => manager.deferUpdate('payments', paymentId, { gateway: 'paypal' });

/**
 * PAYMENT.CAPTURE.COMPLETED / .PENDING / .DENIED: the payment (the capture) with PayPal's status in
 * lower case; money received only once completed. The invoice is the capture's custom_id, else its
 * invoice_id; a capture naming none, or an invoice of another account, is an unmatched payment.
 */
export const onPaypalCapture = paymentHandler(
  read,
  (capture) => ({ paymentId: capture.id, referencedInvoiceId: capture.invoiceId }),
  async (context, capture, payment) => {
    markPaypal(context, capture.id);
    const raw = capture.status.toLowerCase();
    // A capture shown as refunded was completed first; its refunds are facts of their own.
    const status = raw === 'refunded' || raw === 'partially_refunded' ? 'completed' : raw;
    const at = changedAt(capture, context.event);
    const received = Math.max(payment.amount_received, status === 'completed' ? capture.amount : 0);
    const current = { status: payment.status, eventCreated: payment.status_event_created };
    const set: Record<string, unknown> = {};
    if (changesStatus(paypalCaptureStatusMoves, current, { status, eventCreated: at })) {
      Object.assign(set, { status, status_event_created: at, currency: capture.currency, amount: capture.amount, amount_received: received });
    } else if (received > payment.amount_received) {
      set.amount_received = received;
    }
    // Fee and net whichever event brings them first (a pending capture has none; a later event of
    // the same capture, in any order, fills them): PayPal does not change a capture's fee once it
    // is taken, so a breakdown already stored stays, and a duplicate changes nothing.
    if (capture.fee !== null && capture.net !== null && (payment.fee === null || payment.net === null)) Object.assign(set, { fee: capture.fee, net: capture.net });
    if (Object.keys(set).length === 0) return 'stale';
    context.manager.deferUpdate('payments', capture.id, set);
    return 'applied';
  },
);

const REFUND_STATUS: Record<string, string> = { COMPLETED: 'succeeded', PENDING: 'pending', FAILED: 'failed', CANCELLED: 'canceled' };

/**
 * PAYMENT.CAPTURE.REFUNDED (the merchant refunded) and .REVERSED (PayPal took the money back: a
 * chargeback, a reversal): both a refund resource, one row per refund id, money back unless it
 * failed or was cancelled. Its status in the books' words (refunds count as Stripe's do).
 */
export const onPaypalRefund = paymentHandler(
  read,
  (refund) => ({ paymentId: refund.captureId!, referencedInvoiceId: refund.invoiceId, fact: { table: 'refunds', id: refund.id } }),
  async (context, refund, _payment, { paymentId, fact }, stored) => {
    markPaypal(context, paymentId);
    const { manager, accountId } = context;
    const status = ownValue(REFUND_STATUS, refund.status) ?? refund.status.toLowerCase();
    const at = changedAt(refund, context.event);
    if (!stored) {
      const reason = (context.event as unknown as { event_type?: unknown }).event_type === 'PAYMENT.CAPTURE.REVERSED' ? 'reversal' : null;
      const breakdown = refund.fee !== null && refund.net !== null;
      manager.defer(
        `INSERT INTO refunds (id, gateway, payment_id, account_scope, charge_id, currency, amount, status, status_event_created, reason, failure_reason, stripe_created, fee, net)
         VALUES (?, 'paypal', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [refund.id, paymentId, accountScope(accountId), refund.captureId, refund.currency, refund.amount, status, at, reason, refund.reason, refund.created ?? at, breakdown ? refund.fee : null, breakdown ? refund.net : null],
      );
      rememberFact(manager, fact!, { paymentId, accountScope: accountScope(accountId), status, statusEventCreated: at, breakdownKnown: breakdown });
      return 'applied';
    }
    const moved = moveStatus(context, 'refunds', refundStatusMoves, fact!.id, paymentId, stored, status, at);
    // The breakdown, whichever event of the refund brings it first (a pending refund has none yet).
    if (refund.fee === null || refund.net === null || stored.breakdownKnown) return moved;
    manager.defer('UPDATE refunds SET fee = ?, net = ? WHERE id = ? AND payment_id = ? AND fee IS NULL', [refund.fee, refund.net, fact!.id, paymentId]);
    // What moveStatus left for the next event of the transaction (cached: no round trip), with the breakdown now known.
    rememberFact(manager, fact!, { ...((await storedFact(manager, fact!)) ?? stored), breakdownKnown: true });
    return 'applied';
  },
);

/** A resolved dispute's outcomes that leave the money with the buyer; any other resolution is won. */
const LOST_OUTCOMES = new Set(['RESOLVED_BUYER_FAVOUR', 'ACCEPTED']);

/**
 * CUSTOMER.DISPUTE.CREATED / .RESOLVED: one row per dispute id (PP-D-…) on the disputed capture's
 * payment. Open, PayPal holds the funds (`needs_response`, or `under_review` once PayPal reviews);
 * resolved, `lost` when the buyer keeps the money, else `won`: the statuses the invoice state reads.
 */
export const onPaypalDispute = paymentHandler(
  read,
  (dispute) => ({ paymentId: dispute.captureId!, referencedInvoiceId: dispute.invoiceId, fact: { table: 'disputes', id: dispute.id } }),
  async (context, dispute, _payment, { paymentId, fact }, stored) => {
    markPaypal(context, paymentId);
    const { manager, accountId } = context;
    const status =
      dispute.status === 'RESOLVED' ? (LOST_OUTCOMES.has(dispute.outcome ?? '') ? 'lost' : 'won') : dispute.status === 'UNDER_REVIEW' ? 'under_review' : 'needs_response';
    const at = changedAt(dispute, context.event);
    if (!stored) {
      manager.defer(
        `INSERT INTO disputes (id, gateway, payment_id, account_scope, charge_id, currency, amount, status, status_event_created, reason, stripe_created)
         VALUES (?, 'paypal', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [dispute.id, paymentId, accountScope(accountId), dispute.captureId, dispute.currency, dispute.amount, status, at, dispute.reason, dispute.created ?? at],
      );
      rememberFact(manager, fact!, { paymentId, accountScope: accountScope(accountId), status, statusEventCreated: at });
      return 'applied';
    }
    return moveStatus(context, 'disputes', disputeStatusMoves, fact!.id, paymentId, stored, status, at);
  },
);

/**
 * CHECKOUT.ORDER.APPROVED links only: no money has moved. An order already captured links its
 * capture's payment to the invoice its purchase unit names; before the capture there is no payment
 * to link (`no_capture`), and the capture carries the invoice itself (PayPal copies the unit's
 * custom_id and invoice_id onto it).
 */
export const onPaypalOrderApproved = paymentHandler(
  read,
  (order) => (order.captureId ? { paymentId: order.captureId, referencedInvoiceId: order.invoiceId } : { ignored: 'no_capture' }),
  async (context, _order, _payment, { paymentId }) => {
    markPaypal(context, paymentId);
    // The link is the whole effect.
    return 'stale';
  },
);

/** A refund's or dispute's status, moved forward only, as Stripe's. */
function moveStatus(
  { manager }: HandlerContext,
  table: 'refunds' | 'disputes',
  statusMoves: typeof refundStatusMoves,
  id: string,
  paymentId: string,
  stored: StoredFact,
  status: string,
  at: number,
): WriteResult {
  if (!changesStatus(statusMoves, { status: stored.status!, eventCreated: stored.statusEventCreated }, { status, eventCreated: at })) return 'stale';
  manager.defer(`UPDATE ${table} SET status = ?, status_event_created = ? WHERE id = ? AND payment_id = ?`, [status, at, id, paymentId]);
  rememberFact(manager, { table, id }, { ...stored, status, statusEventCreated: at });
  return 'applied';
}
