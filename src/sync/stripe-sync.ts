import type { Worker } from 'bullmq';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config/env.schema.js';
import { createProducerConnection, createWorkerConnection } from '../redis/connections.js';
import type { RedisTarget } from '../../config/redis-url.js';
import type { QueueLayout } from '../redis/queue-layout.js';
import { EventPublisher } from '../events/event-publisher.js';
import { Ingestor } from '../events/ingest.js';
import type { RedisHealth } from '../events/redis-health.js';
import { SUBSCRIBED_EVENT_TYPES } from '../events/subscribed-events.js';
import type { ConnectionService } from '../stripe/connection.service.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import { createAuditLog } from '../ops/audit-log.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { closeQueue, closeRedis, closeWorker } from '../runtime/graceful-close.js';
import { createSyncWorker } from '../../workers/sync.worker.js';
import { createCatchUp, type CatchUp } from './catch-up.service.js';
import { createEndpointHealth } from './endpoint-health.service.js';
import { createSyncState } from './sync-state.js';
import { createPaypalCatchUp, type PaypalCatchUp } from './paypal-catch-up.service.js';
import { createPaypalWebhookHealth } from './paypal-webhook-health.service.js';
import { addStartupRuns, createSyncQueue, SYNC_QUEUE_NAME, syncCatchUpSchedulers, type SyncTarget } from './sync.queue.js';

/** How often each worker process makes the schedulers match the connected accounts (a new account's first run follows within this). */
const SCHEDULER_SYNC_MS = 60_000;

export interface StripeSyncDeps {
  config: Config;
  redis: RedisTarget;
  queues: QueueLayout;
  dataSource: DataSource;
  stripeClients: StripeClients;
  connections: ConnectionService;
  /** PayPal-connected accounts are caught up too, with their app's credentials. */
  paypalConnections: Pick<PaypalConnectionService, 'get' | 'credentials'>;
  logger: Logger;
  metrics: Metrics;
  redisHealth: RedisHealth;
  now?: () => Date;
}

/**
 * The worker side of staying in step with the gateways (ROLE all|worker): a job scheduler per
 * account with a Stripe key and per account with a PayPal connection (every CATCH_UP_INTERVAL_MS),
 * one run of each after start-up, and the worker that runs them (catch-up, then the check of the
 * account's Stripe endpoint or PayPal webhook). Events the catch-up finds go through an
 * Ingestor of its own, into the same inbox and queue as deliveries.
 */
export function startStripeSync(deps: StripeSyncDeps): { worker: Worker; catchUp: CatchUp; paypalCatchUp: PaypalCatchUp; stop(timeoutMs?: number): Promise<void> } {
  const { config, logger } = deps;
  const connection = createWorkerConnection(deps.redis, deps.redisHealth, 'sync worker');
  // The queue adds of found events must fail fast while Redis is down (the relay enqueues them later), as a delivery's do.
  const producer = createProducerConnection(deps.redis, deps.redisHealth);
  const publisher = new EventPublisher({
    connection: producer,
    redisHealth: deps.redisHealth,
    layout: deps.queues,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
  });
  const syncState = createSyncState(deps.dataSource);
  const paypalSyncState = createSyncState(deps.dataSource, 'paypal');
  const stripe = { apiBase: config.STRIPE_API_BASE };
  const ingestor = new Ingestor({ dataSource: deps.dataSource, publisher, logger, metrics: deps.metrics });
  const catchUp = createCatchUp({
    dataSource: deps.dataSource,
    ingestor,
    stripeClients: deps.stripeClients,
    syncState,
    logger,
    stripe,
    maxRps: config.CATCH_UP_MAX_RPS,
    subscribedTypes: SUBSCRIBED_EVENT_TYPES,
    now: deps.now,
  });
  const paypalCatchUp = createPaypalCatchUp({
    dataSource: deps.dataSource,
    ingestor,
    paypalConnections: deps.paypalConnections,
    syncState: paypalSyncState,
    logger,
    api: { apiBase: config.PAYPAL_API_BASE },
    maxRps: config.CATCH_UP_MAX_RPS,
    now: deps.now,
  });
  const paypalWebhookHealth = createPaypalWebhookHealth({
    paypalConnections: deps.paypalConnections,
    syncState: paypalSyncState,
    logger,
    api: { apiBase: config.PAYPAL_API_BASE },
    now: deps.now,
  });
  const endpointHealth = createEndpointHealth({
    connections: deps.connections,
    syncState,
    audit: createAuditLog(deps.dataSource),
    logger,
    stripe,
    subscribedTypes: SUBSCRIBED_EVENT_TYPES,
    now: deps.now,
  });
  const prefix = deps.queues.prefixOf(SYNC_QUEUE_NAME);
  const queue = createSyncQueue(connection, prefix);
  queue.on('error', deps.redisHealth.errorListener('sync queue error'));
  // On stop, a long run ends after its current page instead of holding the process: the next run lists the rest.
  const stopping = new AbortController();
  const worker = createSyncWorker({ connection, prefix, catchUp, paypalCatchUp, endpointHealth, paypalWebhookHealth, logger, redisHealth: deps.redisHealth, signal: stopping.signal });

  /** Stripe's accounts with a key, then PayPal's connected accounts: one catch-up each. */
  const accounts = async (): Promise<SyncTarget[]> => [
    ...(await syncState.accountsWithKey(Boolean(config.STRIPE_SECRET_KEY))).map((accountId) => ({ accountId, gateway: 'stripe' as const })),
    ...(await paypalSyncState.accountsWithKey(false)).map((accountId) => ({ accountId, gateway: 'paypal' as const })),
  ];
  const syncSchedulers = async () => syncCatchUpSchedulers(queue, await accounts(), config.CATCH_UP_INTERVAL_MS);
  let timer: NodeJS.Timeout | undefined;
  // Not awaited: with Redis down at start-up this completes once it is back, and start() is not held up.
  void (async () => {
    try {
      await syncSchedulers();
      if (config.CATCH_UP_INTERVAL_MS > 0) await addStartupRuns(queue, await accounts());
    } catch (error) {
      logger.warn('could not schedule the catch-up', { error: describeError(error) });
    }
  })();
  if (config.CATCH_UP_INTERVAL_MS > 0) {
    timer = setInterval(() => {
      syncSchedulers().catch((error: unknown) => logger.warn('could not update the catch-up schedules', { error: describeError(error) }));
    }, Math.min(SCHEDULER_SYNC_MS, config.CATCH_UP_INTERVAL_MS));
    timer.unref();
  }

  return {
    worker,
    catchUp,
    paypalCatchUp,
    async stop(timeoutMs = 10_000) {
      clearInterval(timer);
      stopping.abort(new Error('the process is stopping'));
      await closeWorker(worker, timeoutMs, logger);
      await closeQueue(queue);
      await publisher.close();
      await Promise.all([closeRedis(connection), closeRedis(producer)]);
    },
  };
}
