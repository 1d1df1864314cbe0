import { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connections.js';

export const PAYOUT_QUEUE_NAME = 'payout-reconciliation';

export interface PayoutJobData {
  payoutId: string;
  /** Which request of the payout's items this job carries out (payouts.items_requested_gen). */
  generation: number;
}

export interface PayoutQueueOptions {
  connection: RedisClient;
  prefix: string;
  attempts: number;
  backoffMs: number;
}

export function createPayoutQueue(options: PayoutQueueOptions): Queue<PayoutJobData> {
  return new Queue<PayoutJobData>(PAYOUT_QUEUE_NAME, {
    connection: options.connection,
    prefix: options.prefix,
    defaultJobOptions: {
      attempts: options.attempts,
      backoff: { type: 'exponential', delay: options.backoffMs },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 14 * 24 * 3600 },
    },
  });
}

/**
 * BullMQ forbids ':' in custom job ids, and a payout id comes from a signed event (any merchant
 * can send one with a ':'): refused, it would fail the dispatcher's whole addBulk every pass, and
 * no payout in that batch would be reconciled. '%' and ':' are escaped (one-to-one; Stripe's
 * `po_…` ids have neither, so their job ids are as before).
 */
const jobIdPart = (id: string) => id.replace(/%/g, '%25').replace(/:/g, '%3A');

/**
 * One job per request of a payout's items: `${payoutId}-${generation}`. Adding it again is a
 * no-op, so the dispatcher may add it as often as it likes; a newer request
 * (reconciliation_completed after paid) is a new job, even while the older one runs.
 */
export const payoutJob = (payoutId: string, generation: number) => ({
  name: 'payout.items',
  data: { payoutId, generation },
  opts: { jobId: `${jobIdPart(payoutId)}-${generation}` },
});
