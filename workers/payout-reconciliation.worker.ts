import { UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '../src/redis/connections.js';
import { PAYOUT_QUEUE_NAME, type PayoutJobData } from '../src/reconciliation/payout-queue.js';
import type { PayoutItemsJob } from '../src/reconciliation/payout-items.job.js';
import { AppError, describeError } from '../src/shared/errors.js';
import { runWithContext } from '../src/shared/context.js';
import type { Logger } from '../src/shared/logger.js';
import type { Metrics } from '../src/shared/metrics.js';
import type { RedisHealth } from '../src/events/redis-health.js';

export interface PayoutWorkerOptions {
  connection: RedisClient;
  prefix: string;
  concurrency: number;
  job: PayoutItemsJob;
  logger: Logger;
  metrics: Metrics;
  redisHealth: RedisHealth;
}

/** The payout-reconciliation queue's worker: context, timing and retry bookkeeping around the items job. */
export function createPayoutReconciliationWorker(options: PayoutWorkerOptions): Worker<PayoutJobData> {
  const { job: itemsJob, logger, metrics } = options;
  const worker = new Worker<PayoutJobData>(
    PAYOUT_QUEUE_NAME,
    (job) =>
      runWithContext({ jobId: job.id }, async () => {
        const stopTimer = metrics.jobDuration.startTimer({ type: 'payout.items' });
        const { payoutId, generation } = job.data;
        try {
          const result = await itemsJob.run(payoutId, generation);
          stopTimer({ outcome: result.outcome });
          return result;
        } catch (error) {
          stopTimer({ outcome: 'error' });
          // No key for the payout's account: retrying cannot help until someone connects Stripe (a new request then asks again).
          const hopeless = error instanceof AppError && error.code === 'stripe_not_connected';
          const final = hopeless || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
          // error: the payout shows fetch_failed until someone acts; warn: the queue tries again by itself.
          logger.log(final ? 'error' : 'warn', final ? 'payout items fetch failed; retries exhausted' : 'payout items fetch failed; will retry', {
            payoutId,
            generation,
            attempt: job.attemptsMade + 1,
            error: describeError(error),
          });
          if (final) await itemsJob.markFailed(payoutId, generation, error);
          if (hopeless) throw new UnrecoverableError(describeError(error));
          throw error;
        }
      }),
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      autorun: true,
    },
  );
  worker.on('error', options.redisHealth.errorListener('payout worker error'));
  return worker;
}
