import type { StripeEventRecord } from './stripe-event.entity.js';
import { RawJson } from '../shared/raw-json.js';
import { eventJobId } from './event-queue.js';

/** The processing record as the API shows it (camelCase, ISO dates, the raw payload as stored). */
export function eventView(record: StripeEventRecord) {
  return {
    id: record.id,
    /** `stripe` or `paypal`: which gateway delivered it. */
    gateway: record.gateway,
    accountId: record.accountId,
    type: record.type,
    livemode: record.livemode,
    created: record.stripeCreated,
    objectId: record.objectId,
    /** The Stripe API version the payload is rendered in; a PayPal event's `resource_version`. */
    apiVersion: record.apiVersion,
    /** `webhook`, or `catch_up`: fetched from Stripe's event list with the account's key because no delivery had brought it. */
    source: record.source,
    status: record.status,
    reason: record.reason,
    attempts: record.attempts,
    lastError: record.lastError,
    /** The BullMQ job it was queued in when stored: a batch job (`batch-…`), or its own (the event's id; replays and hand-overs use that one). */
    queueJob: record.queueJob ?? eventJobId(record.id, record.accountId),
    receivedAt: record.receivedAt.toISOString(),
    processedAt: record.processedAt?.toISOString() ?? null,
    // Spliced in as stored (see stringifyWithRaw): never parsed and re-serialised on the way out.
    payload: new RawJson(record.payload),
  };
}
