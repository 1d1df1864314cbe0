import type { DataSource } from 'typeorm';
import type { Worker } from 'bullmq';
import type { Config } from '../../config/env.schema.js';
import { createWorkerConnection } from '../redis/connections.js';
import type { RedisTarget } from '../../config/redis-url.js';
import type { QueueLayout } from '../redis/queue-layout.js';
import type { RedisHealth } from '../events/redis-health.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { createPayoutQueue, PAYOUT_QUEUE_NAME } from './payout-queue.js';
import { createPayoutDispatcher } from './payout-dispatcher.js';
import { createPayoutItemsJob } from './payout-items.job.js';
import { createPayoutReconciliationWorker } from '../../workers/payout-reconciliation.worker.js';
import { closeQueue, closeRedis, closeWorker } from '../runtime/graceful-close.js';

/** Each fetch lists a whole payout from Stripe: a few at a time keep clear of Stripe's rate limits. */
const MAX_PAYOUT_CONCURRENCY = 4;

/**
 * The worker side of payout reconciliation (ROLE all|worker): the dispatcher
 * that queues owed item fetches, and the worker that runs them.
 */
export function startPayoutReconciliation(deps: {
  config: Config;
  redis: RedisTarget;
  queues: QueueLayout;
  dataSource: DataSource;
  stripeClients: StripeClients;
  logger: Logger;
  metrics: Metrics;
  redisHealth: RedisHealth;
}): { worker: Worker; stop(timeoutMs?: number): Promise<void> } {
  const { config, logger } = deps;
  const connection = createWorkerConnection(deps.redis, deps.redisHealth, 'payout worker');
  const prefix = deps.queues.prefixOf(PAYOUT_QUEUE_NAME);
  const queue = createPayoutQueue({ connection, prefix, attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS });
  queue.on('error', deps.redisHealth.errorListener('payout queue error'));
  // No request path enqueues these jobs, so the dispatcher is the only way in: it runs often.
  const dispatcher = createPayoutDispatcher({ dataSource: deps.dataSource, queue, logger, intervalMs: Math.min(config.RELAY_INTERVAL_MS, 1000) });
  const worker = createPayoutReconciliationWorker({
    connection,
    prefix,
    concurrency: Math.min(config.WORKER_CONCURRENCY, MAX_PAYOUT_CONCURRENCY),
    job: createPayoutItemsJob({ dataSource: deps.dataSource, stripeClients: deps.stripeClients, logger }),
    logger,
    metrics: deps.metrics,
    redisHealth: deps.redisHealth,
  });
  dispatcher.start();
  return {
    worker,
    async stop(timeoutMs = 10_000) {
      await dispatcher.stop();
      await closeWorker(worker, timeoutMs, logger);
      await closeQueue(queue);
      await closeRedis(connection);
    },
  };
}
