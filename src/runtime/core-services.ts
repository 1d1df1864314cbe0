import type { DataSource } from 'typeorm';
import type { Config } from '../../config/env.schema.js';
import { createAccountService } from '../accounts/account.service.js';
import { createConnectionService } from '../stripe/connection.service.js';
import { createStripeClients } from '../stripe/stripe-clients.js';
import { createSecretBox } from '../shared/secret-box.js';
import { SUBSCRIBED_EVENT_TYPES } from '../events/subscribed-events.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { HandlerRegistry } from '../events/handler-registry.js';
import { createRedisHealth, type RedisHealth } from '../events/redis-health.js';
import { createPaypalServices, type PaypalServices } from '../paypal/paypal.services.js';
import { redisTarget, type RedisTarget } from '../../config/redis-url.js';
import { createQueueLayout, type QueueLayout } from '../redis/queue-layout.js';
import { PAYOUT_QUEUE_NAME } from '../reconciliation/payout-queue.js';
import { MAINTENANCE_QUEUE_NAME } from '../ops/retention.js';
import { SYNC_QUEUE_NAME } from '../sync/sync.queue.js';

/** What both sides (API and workers) of a process share. */
export interface Core {
  config: Config;
  dataSource: DataSource;
  logger: Logger;
  metrics: Metrics;
  registry: HandlerRegistry;
  now?: () => Date;
  accounts: ReturnType<typeof createAccountService>;
  connections: ReturnType<typeof createConnectionService>;
  stripeClients: ReturnType<typeof createStripeClients>;
  /** Every Redis connection of the process reports here: one outage line per interval, naming REDIS_URL. */
  redisHealth: RedisHealth;
  /** The PayPal connection and the offline check of PayPal's signatures (src/paypal/). */
  paypal: PaypalServices;
  /** REDIS_URL, parsed: one Redis or a cluster's seed nodes. */
  redis: RedisTarget;
  /** Every BullMQ queue's key prefix, and the event queue's shards. */
  queues: QueueLayout;
}

/**
 * REDIS_URL and the queues' layout on it, checked before anything is opened: a QUEUE_PREFIX that
 * would fail every BullMQ script on a cluster stops start-up (EX_CONFIG, naming QUEUE_PREFIX).
 */
export function queueSetup(config: Config): { redis: RedisTarget; queues: QueueLayout } {
  const redis = redisTarget(config.REDIS_URL);
  const queues = createQueueLayout(
    { prefix: config.QUEUE_PREFIX, shards: config.QUEUE_SHARDS, cluster: redis.kind === 'cluster' },
    [PAYOUT_QUEUE_NAME, MAINTENANCE_QUEUE_NAME, SYNC_QUEUE_NAME],
  );
  return { redis, queues };
}

/** What a Redis outage means, said in its log line. */
const REDIS_OUTAGE_CONSEQUENCE = {
  all: 'webhooks are still stored, the relay enqueues them once Redis is back',
  api: 'webhooks are still stored, the relay enqueues them once Redis is back',
  worker: 'stored events wait in the database and are processed once Redis is back',
} as const;

export function createCore(base: Omit<Core, 'accounts' | 'connections' | 'stripeClients' | 'redisHealth' | 'paypal'>): Core {
  const { config, dataSource, logger } = base;
  const accounts = createAccountService(dataSource);
  const secretBox = createSecretBox(config.ENCRYPTION_KEY);
  const connections = createConnectionService({
    dataSource,
    accounts,
    secretBox,
    logger,
    stripe: { apiBase: config.STRIPE_API_BASE },
    publicBaseUrl: config.PUBLIC_BASE_URL,
    subscribedEventTypes: SUBSCRIBED_EVENT_TYPES,
    defaultKey: config.STRIPE_SECRET_KEY,
    now: base.now,
  });
  const stripeClients = createStripeClients({
    apiBase: config.STRIPE_API_BASE,
    defaultKey: config.STRIPE_SECRET_KEY,
    accountKey: (accountId) => connections.secretKey(accountId),
  });
  const redisHealth = createRedisHealth({ redisUrl: config.REDIS_URL, logger, consequence: REDIS_OUTAGE_CONSEQUENCE[config.ROLE] });
  const paypal = createPaypalServices({ config, dataSource, accounts, secretBox, logger, now: base.now });
  return { ...base, accounts, connections, stripeClients, redisHealth, paypal };
}
