import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import { loadConfig, ConfigError, type Config } from '../config/env.schema';
import { createApp } from './app';
import { createDataSource, ensureDatabase } from './db/data-source';
import { createProducerConnection, createWorkerConnection } from './events/event-queue';
import { EventPublisher } from './events/event-publisher';
import { Ingestor } from './events/ingest';
import { createRelay } from './events/relay';
import { createEventProcessor } from './events/process-event';
import { assertRegistryMatches, type HandlerRegistry } from './events/handler-registry';
import { eventHandlers, SUBSCRIBED_EVENT_TYPES } from './events/subscribed-events';
import { createSecretResolver } from './stripe/webhook-secrets';
import { createConnectionService } from './stripe/connection.service';
import { createStripeClients } from './stripe/stripe-clients';
import { createAccountService } from './accounts/account.service';
import { createPayNowService } from './billing/pay-now.service';
import { createSecretBox } from './shared/secret-box';
import { accessTokenVerifier } from './access/token.service';
import { createOpsServices } from './ops/ops.services';
import { createAuditLog } from './ops/audit-log';
import { createMaintenanceWorker } from '../workers/maintenance.worker';
import { createEventWorker } from '../workers/event.worker';
import { startPayoutReconciliation } from './reconciliation/payout-reconciliation';
import { createInvoiceService } from './billing/invoice.service';
import { createLogger, type Logger } from './shared/logger';
import { createMetrics } from './shared/metrics';

export interface StartOptions {
  /** Tests swap in handlers (e.g. one that always throws). */
  registry?: HandlerRegistry;
  logger?: Logger;
  /** Tests move time forward (e.g. past a rolled secret's 24 h). */
  now?: () => Date;
}

export interface Service {
  config: Config;
  /** Set when the API runs: the bound port (PORT=0 picks a free one). */
  port?: number;
  server?: Server;
  worker?: Worker;
  stop(): Promise<void>;
}

/** config → database (created, migrated) → API and/or workers by ROLE. */
export async function start(config: Config, options: StartOptions = {}): Promise<Service> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const registry = options.registry ?? eventHandlers;
  if (!options.registry) assertRegistryMatches(registry, SUBSCRIBED_EVENT_TYPES);

  await ensureDatabase(config.DATABASE_URL);
  const dataSource = createDataSource(config.DATABASE_URL);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const metrics = createMetrics();
  const accounts = createAccountService(dataSource);
  const connections = createConnectionService({
    dataSource,
    accounts,
    secretBox: createSecretBox(config.ENCRYPTION_KEY),
    logger,
    stripe: { apiBase: config.STRIPE_API_BASE },
    publicBaseUrl: config.PUBLIC_BASE_URL,
    subscribedEventTypes: SUBSCRIBED_EVENT_TYPES,
    now: options.now,
  });
  const stripeClients = createStripeClients({
    apiBase: config.STRIPE_API_BASE,
    defaultKey: config.STRIPE_SECRET_KEY,
    accountKey: (accountId) => connections.secretKey(accountId),
  });
  const closers: (() => Promise<unknown>)[] = [];
  const service: Service = { config, stop: async () => {} };

  if (config.ROLE !== 'worker') {
    const redis = createProducerConnection(config.REDIS_URL, logger);
    const publisher = new EventPublisher({
      connection: redis,
      prefix: config.QUEUE_PREFIX,
      attempts: config.JOB_ATTEMPTS,
      backoffMs: config.JOB_BACKOFF_MS,
    });
    metrics.sources.queueCounts = () => publisher.jobCounts();
    const ops = createOpsServices({ dataSource, publisher, redis, queuePrefix: config.QUEUE_PREFIX, relayAfterMs: config.RELAY_AFTER_MS, logger });
    metrics.sources.eventStats = ops.eventStats;
    const ingestor = new Ingestor({ dataSource, publisher, logger, metrics });
    const relay = createRelay({
      dataSource,
      publisher,
      logger,
      metrics,
      intervalMs: config.RELAY_INTERVAL_MS,
      afterMs: config.RELAY_AFTER_MS,
    });
    // A Redis that restarted may have lost queued jobs: the next relay pass looks at every stored event.
    redis.on('ready', () => relay.rescan());
    const app = createApp({
      dataSource,
      redis,
      ingestor,
      resolveSecrets: createSecretResolver({
        envSecrets: config.STRIPE_WEBHOOK_SECRET,
        accountSecrets: (id) => connections.webhookSecrets(id),
        now: options.now,
      }),
      // ADMIN_TOKEN bootstraps; every other token lives (hashed) in access_tokens.
      verifyToken: accessTokenVerifier(config.ADMIN_TOKEN, ops.tokens),
      invoices: createInvoiceService({ dataSource, accountExists: (id) => accounts.exists(id) }),
      payNow: createPayNowService({ dataSource, stripeClients }),
      accounts,
      connections,
      ops,
      logger,
      metrics,
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(config.PORT, () => resolve(s));
    });
    relay.start();
    service.server = server;
    service.port = (server.address() as AddressInfo).port;
    logger.info('api listening', { port: service.port });
    // Order matters on stop: stop taking requests, then stop the relay, then close Redis.
    closers.push(
      () => new Promise((resolve) => server.close(resolve)),
      () => relay.stop(),
      () => publisher.close(),
      () => redis.quit().catch(() => redis.disconnect()),
    );
  }

  if (config.ROLE !== 'api') {
    const connection = createWorkerConnection(config.REDIS_URL, logger);
    const defaultLivemode = config.STRIPE_SECRET_KEY ? config.STRIPE_SECRET_KEY.includes('_live_') : null;
    const processEvent = createEventProcessor({
      dataSource,
      registry,
      logger,
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
      processEvent,
      logger,
      metrics,
    });
    service.worker = worker;
    logger.info('worker started', { concurrency: config.WORKER_CONCURRENCY });
    // worker.close() waits for active jobs to finish before resolving.
    closers.unshift(() => worker.close());
    closers.push(() => connection.quit().catch(() => connection.disconnect()));
    // Payout items: their own queue and worker; stopped first, like the event worker, before the database closes.
    const payoutReconciliation = startPayoutReconciliation({ config, dataSource, stripeClients, logger, metrics });
    closers.unshift(() => payoutReconciliation.stop());
    // Retention: a BullMQ job scheduler on the maintenance queue purges settled events past EVENT_RETENTION_DAYS.
    const maintenance = createMaintenanceWorker({
      connection,
      prefix: config.QUEUE_PREFIX,
      dataSource,
      audit: createAuditLog(dataSource),
      logger,
      retentionDays: config.EVENT_RETENTION_DAYS,
      intervalMs: config.EVENT_RETENTION_INTERVAL_MS,
    });
    closers.unshift(() => maintenance.close());
  }

  closers.push(() => dataSource.destroy());
  let stopping: Promise<void> | undefined;
  service.stop = () =>
    (stopping ??= (async () => {
      for (const close of closers) {
        try {
          await close();
        } catch (error) {
          logger.warn('error while stopping', { error: String(error) });
        }
      }
    })());
  return service;
}

/** `npm start`: one process, ROLE decides which sides run; SIGTERM/SIGINT stop it gracefully. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL);
  const service = await start(config, { logger });
  const shutdown = (signal: string) => {
    logger.info('stopping', { signal });
    // Jobs finish first; a job that hangs must not keep the process past its orchestrator's grace period.
    setTimeout(() => process.exit(1), 15_000).unref();
    void service.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error('start-up failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
