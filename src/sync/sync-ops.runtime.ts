import type { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connections.js';
import type { QueueLayout } from '../redis/queue-layout.js';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config/env.schema.js';
import type { AccountService } from '../accounts/account.service.js';
import type { RedisHealth } from '../events/redis-health.js';
import { SUBSCRIBED_EVENT_TYPES } from '../events/subscribed-events.js';
import type { ConnectionService } from '../stripe/connection.service.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { createAuditLog } from '../ops/audit-log.js';
import type { Logger } from '../shared/logger.js';
import type { AccountSyncStats } from '../shared/metrics.js';
import { closeQueue } from '../runtime/graceful-close.js';
import { createEndpointHealth } from './endpoint-health.service.js';
import { createSyncOps, type SyncOps } from './sync-ops.service.js';
import { createPaypalWebhookHealth } from './paypal-webhook-health.service.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import { createSyncState } from './sync-state.js';
import { createSyncQueue, SYNC_QUEUE_NAME, type SyncJobData } from './sync.queue.js';

/** How long a request waits for Redis when the queue is not built yet. */
const QUEUE_WAIT_MS = 2000;

/**
 * The API side of catch-up and endpoint health: the routes' service, the stripe-sync queue on the
 * producer connection (built once Redis has answered, as the event queue is), and the metrics source.
 */
export function startSyncOps(deps: {
  config: Config;
  dataSource: DataSource;
  accounts: AccountService;
  connections: ConnectionService;
  paypalConnections: Pick<PaypalConnectionService, 'get' | 'credentials'>;
  stripeClients: StripeClients;
  logger: Logger;
  redis: RedisClient;
  queues: QueueLayout;
  redisHealth: RedisHealth;
  now?: () => Date;
}): { ops: SyncOps; metrics: () => Promise<AccountSyncStats[]>; close(): Promise<void> } {
  const { config } = deps;
  let queue: Queue<SyncJobData> | undefined;
  const build = () => {
    if (queue) return;
    queue = createSyncQueue(deps.redis, deps.queues.prefixOf(SYNC_QUEUE_NAME));
    queue.on('error', deps.redisHealth.errorListener('sync queue error'));
  };
  if (deps.redis.status === 'ready') build();
  else deps.redis.once('ready', build);
  /** Right after start-up the connection may still be coming up: a request waits for it a little. */
  const readyQueue = async () => {
    if (!queue && deps.redis.status !== 'end') {
      await new Promise<void>((resolve) => {
        const ready = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          deps.redis.off('ready', ready);
          resolve();
        }, QUEUE_WAIT_MS);
        deps.redis.once('ready', ready);
      });
      build();
    }
    return deps.redis.status === 'ready' ? queue : undefined;
  };

  const syncState = createSyncState(deps.dataSource);
  const audit = createAuditLog(deps.dataSource);
  const paypalSyncState = createSyncState(deps.dataSource, 'paypal');
  const ops = createSyncOps({
    syncState,
    paypalSyncState,
    paypalWebhookHealth: createPaypalWebhookHealth({ paypalConnections: deps.paypalConnections, syncState: paypalSyncState, logger: deps.logger, api: { apiBase: config.PAYPAL_API_BASE }, now: deps.now }),
    endpointHealth: createEndpointHealth({
      connections: deps.connections,
      syncState,
      audit,
      logger: deps.logger,
      stripe: { apiBase: config.STRIPE_API_BASE },
      subscribedTypes: SUBSCRIBED_EVENT_TYPES,
      now: deps.now,
    }),
    accounts: deps.accounts,
    stripeClients: deps.stripeClients,
    audit,
    queue: readyQueue,
    defaultKeySet: Boolean(config.STRIPE_SECRET_KEY),
    intervalMs: config.CATCH_UP_INTERVAL_MS,
  });

  // The three metrics of one scrape are collected together: they share the one read under way.
  let reading: Promise<AccountSyncStats[]> | undefined;
  const metrics = () =>
    (reading ??= ops.metrics().finally(() => {
      reading = undefined;
    }));
  return {
    ops,
    metrics,
    async close() {
      if (queue) await closeQueue(queue);
    },
  };
}
