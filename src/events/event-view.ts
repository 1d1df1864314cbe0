import type { StripeEventRecord } from './stripe-event.entity';

/** The processing record as the API shows it (camelCase, ISO dates, the raw payload parsed). */
export function eventView(record: StripeEventRecord) {
  return {
    id: record.id,
    accountId: record.accountId,
    type: record.type,
    livemode: record.livemode,
    created: record.stripeCreated,
    objectId: record.objectId,
    status: record.status,
    reason: record.reason,
    attempts: record.attempts,
    lastError: record.lastError,
    receivedAt: record.receivedAt.toISOString(),
    processedAt: record.processedAt?.toISOString() ?? null,
    payload: JSON.parse(record.payload) as unknown,
  };
}
