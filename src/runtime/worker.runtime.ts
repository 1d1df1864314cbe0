import type { Worker } from 'bullmq';
import { createProducerConnection, createWorkerConnection } from '../redis/connections.js';
import { EventPublisher } from '../events/event-publisher.js';
import { createHandOver } from '../events/hand-over.js';
import { createEventProcessor } from '../events/process-event.js';
import { createOutdatedEventRefresher } from '../stripe/outdated-events.js';
import { createEventWorker } from '../../workers/event.worker.js';
import { createMaintenanceWorker } from '../../workers/maintenance.worker.js';
import { MAINTENANCE_QUEUE_NAME } from '../ops/retention.js';
import { startPayoutReconciliation } from '../reconciliation/payout-reconciliation.js';
import { createAuditLog } from '../ops/audit-log.js';
import { startStripeSync } from '../sync/stripe-sync.js';
import { closeRedis, closeWorker } from './graceful-close.js';
import type { Core } from './core-services.js';

/** Active jobs get this long to finish on stop; the process's own backstop is 15 s. */
const WORKER_CLOSE_TIMEOUT_MS = 10_000;

export interface WorkerRuntime {
  /** The first event queue's worker (stripe-events). */
  worker: Worker;
  /** One per event queue shard (QUEUE_SHARDS), shard 0 first. */
  eventWorkers: Worker[];
  close(): Promise<void>;
}

/**
 * WORKER_CONCURRENCY is the process's, shared by the shards it consumes: a process takes no more
 * jobs at once with four shards than with one (its batches, its database connections and its
 * memory stay what they were measured at), and a shard with no work leaves its share idle. A
 * batch job counts once and has at most WORKER_BATCH_SIZE of its events in flight.
 */
export const perShardConcurrency = (concurrency: number, shards: number): number => Math.max(1, Math.ceil(concurrency / shards));

/** The worker side (ROLE all|worker): the event worker, payout reconciliation, retention, catch-up and endpoint checks. */
export function startWorkers(core: Core): WorkerRuntime {
  const { config, dataSource, logger, metrics, connections, redisHealth, queues } = core;
  const connection = createWorkerConnection(core.redis, redisHealth, 'worker');
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
  // A batch job's unsettled events go on to jobs of their own; those adds fail fast while Redis is down (the batch job is then tried again).
  const producer = createProducerConnection(core.redis, redisHealth);
  const handOvers = new EventPublisher({ connection: producer, redisHealth, layout: queues, attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS });
  const handOver = createHandOver({ dataSource, publisher: handOvers });
  // Every shard's worker feeds the one processor, whose batches take events from all of them.
  const eventWorkers = queues.eventQueues.map((queue) =>
    createEventWorker({
      connection,
      queue,
      prefix: queues.prefixOf(queue),
      concurrency: perShardConcurrency(config.WORKER_CONCURRENCY, queues.shards),
      lockDurationMs: config.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
      processEvent,
      batchJobChunk: config.WORKER_BATCH_SIZE,
      handOver,
      metrics,
      logger,
      redisHealth,
    }),
  );
  // Payout items: their own queue and worker.
  const payouts = startPayoutReconciliation({ config, redis: core.redis, queues, dataSource, stripeClients: core.stripeClients, logger, metrics, redisHealth });
  // Retention: a BullMQ job scheduler on the maintenance queue purges settled events past EVENT_RETENTION_DAYS.
  const maintenance = createMaintenanceWorker({
    connection,
    prefix: queues.prefixOf(MAINTENANCE_QUEUE_NAME),
    dataSource,
    audit: createAuditLog(dataSource),
    logger,
    redisHealth,
    retentionDays: config.EVENT_RETENTION_DAYS,
    intervalMs: config.EVENT_RETENTION_INTERVAL_MS,
  });
  // Catch-up from Stripe and PayPal, and Stripe endpoint health: a job scheduler per account and gateway on the stripe-sync queue.
  const sync = startStripeSync({
    config,
    redis: core.redis,
    queues,
    dataSource,
    stripeClients: core.stripeClients,
    connections,
    paypalConnections: core.paypal.connections,
    logger,
    metrics,
    redisHealth,
    now: core.now,
  });
  logger.info('worker started', { concurrency: config.WORKER_CONCURRENCY, eventQueues: queues.eventQueues.length });

  return {
    worker: eventWorkers[0]!,
    eventWorkers,
    async close() {
      // In parallel: each lets its active jobs finish, within the same time bound. With Redis down a
      // finished job could not be marked completed anyway (it will come back as stalled), so don't wait long.
      const timeoutMs = connection.status === 'ready' ? WORKER_CLOSE_TIMEOUT_MS : 2000;
      await Promise.all([...eventWorkers.map((worker) => closeWorker(worker, timeoutMs, logger)), payouts.stop(timeoutMs), maintenance.close(timeoutMs), sync.stop(timeoutMs)]);
      await handOvers.close();
      await Promise.all([closeRedis(connection), closeRedis(producer)]);
    },
  };
}
