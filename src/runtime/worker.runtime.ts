import type { Worker } from 'bullmq';
import { createWorkerConnection } from '../events/event-queue.js';
import { createEventProcessor } from '../events/process-event.js';
import { createOutdatedEventRefresher } from '../stripe/outdated-events.js';
import { createEventWorker } from '../../workers/event.worker.js';
import { createMaintenanceWorker } from '../../workers/maintenance.worker.js';
import { startPayoutReconciliation } from '../reconciliation/payout-reconciliation.js';
import { createAuditLog } from '../ops/audit-log.js';
import { startStripeSync } from '../sync/stripe-sync.js';
import { closeRedis, closeWorker } from './graceful-close.js';
import type { Core } from './core-services.js';

/** Active jobs get this long to finish on stop; the process's own backstop is 15 s. */
const WORKER_CLOSE_TIMEOUT_MS = 10_000;

export interface WorkerRuntime {
  worker: Worker;
  close(): Promise<void>;
}

/** The worker side (ROLE all|worker): the event worker, payout reconciliation, retention, catch-up and endpoint checks. */
export function startWorkers(core: Core): WorkerRuntime {
  const { config, dataSource, logger, metrics, connections, redisHealth } = core;
  const connection = createWorkerConnection(config.REDIS_URL, redisHealth, 'worker');
  const defaultLivemode = config.STRIPE_SECRET_KEY ? config.STRIPE_SECRET_KEY.includes('_live_') : null;
  const processEvent = createEventProcessor({
    dataSource,
    registry: core.registry,
    logger,
    prepare: createOutdatedEventRefresher(core.stripeClients),
    batch: { maxBatch: config.WORKER_BATCH_SIZE, lanes: config.WORKER_BATCH_LANES },
    expectedLivemode: async (accountId) => (accountId === null ? defaultLivemode : connections.livemode(accountId)),
    recordLivemodeMismatch: async (accountId) => {
      if (accountId !== null) await connections.recordLivemodeMismatch(accountId);
      else logger.warn('event mode differs from STRIPE_SECRET_KEY mode: check the key and the endpoint');
    },
  });
  const worker = createEventWorker({
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
    processEvent,
    metrics,
    redisHealth,
  });
  // Payout items: their own queue and worker.
  const payouts = startPayoutReconciliation({ config, dataSource, stripeClients: core.stripeClients, logger, metrics, redisHealth });
  // Retention: a BullMQ job scheduler on the maintenance queue purges settled events past EVENT_RETENTION_DAYS.
  const maintenance = createMaintenanceWorker({
    connection,
    prefix: config.QUEUE_PREFIX,
    dataSource,
    audit: createAuditLog(dataSource),
    logger,
    redisHealth,
    retentionDays: config.EVENT_RETENTION_DAYS,
    intervalMs: config.EVENT_RETENTION_INTERVAL_MS,
  });
  // Catch-up from Stripe and endpoint health: a job scheduler per account on the stripe-sync queue.
  const sync = startStripeSync({ config, dataSource, stripeClients: core.stripeClients, connections, logger, metrics, redisHealth, now: core.now });
  logger.info('worker started', { concurrency: config.WORKER_CONCURRENCY });

  return {
    worker,
    async close() {
      // In parallel: each lets its active jobs finish, within the same time bound. With Redis down a
      // finished job could not be marked completed anyway (it will come back as stalled), so don't wait long.
      const timeoutMs = connection.status === 'ready' ? WORKER_CLOSE_TIMEOUT_MS : 2000;
      await Promise.all([closeWorker(worker, timeoutMs, logger), payouts.stop(timeoutMs), maintenance.close(timeoutMs), sync.stop(timeoutMs)]);
      await closeRedis(connection);
    },
  };
}
