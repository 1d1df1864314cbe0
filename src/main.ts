import type { Server } from 'node:http';
import type { Worker } from 'bullmq';
import type { Express } from 'express';
import type { DataSource } from 'typeorm';
import { loadConfig, type Config } from '../config/env.schema.js';
import { createDataSource, ensureDatabase } from './db/data-source.js';
import { migrate } from './db/migrate.js';
import { assertRegistryMatches, type HandlerRegistry } from './events/handler-registry.js';
import { eventHandlers, HANDLED_EVENT_TYPES } from './events/subscribed-events.js';
import { createCore, queueSetup } from './runtime/core-services.js';
import { startApi } from './runtime/api.runtime.js';
import { startWorkers } from './runtime/worker.runtime.js';
import { claimQueueLayout } from './runtime/queue-layout-claim.js';
import { databaseStartupError, encryptionKeyStartupError, startupFailure, type DatabaseStep } from './runtime/startup-errors.js';
import { createLogger, type Logger } from './shared/logger.js';
import { createMetrics } from './shared/metrics.js';
import { isEntryPoint } from './shared/entry-point.js';
import { maskUrlPassword } from './shared/redact.js';

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
  /** The Express app behind the webhook intake. */
  app?: Express;
  worker?: Worker;
  /** One per event queue shard (QUEUE_SHARDS). */
  eventWorkers?: Worker[];
  stop(): Promise<void>;
}

/** config → database (created, migrated) → API and/or workers by ROLE. */
export async function start(config: Config, options: StartOptions = {}): Promise<Service> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const registry = options.registry ?? eventHandlers;
  if (!options.registry) assertRegistryMatches(registry, HANDLED_EVENT_TYPES);
  // Before the database: a queue layout that cannot work on this Redis is a configuration error.
  const { redis, queues } = queueSetup(config);
  // On a cluster, each event queue's key prefix: what on-call looks up (CLUSTER KEYSLOT) to find a shard's master.
  logger.info('queue layout', {
    redis: redis.address,
    cluster: redis.kind === 'cluster',
    eventQueues: Object.fromEntries(queues.eventQueues.map((queue) => [queue, queues.prefixOf(queue)])),
  });

  const dataSource = await openDatabase(config.DATABASE_URL, logger);
  const core = createCore({ config, dataSource, logger, metrics: createMetrics({ eventTypes: HANDLED_EVENT_TYPES }), registry, now: options.now, redis, queues });
  const unreadable = await Promise.all([core.connections.unreadableConnections(), core.paypal.connections.unreadableConnections()]).catch(async (error: unknown) => {
    await dataSource.destroy();
    throw error;
  });
  if (unreadable[0] || unreadable[1]) {
    await dataSource.destroy();
    throw encryptionKeyStartupError({ stripe: unreadable[0] ?? undefined, paypal: unreadable[1] ?? undefined }, config.DATABASE_URL);
  }
  // Keys sealed before they were bound to their account: bound now, so a copied row cannot open.
  const resealed = await core.connections.resealLegacy().catch(async (error: unknown) => {
    await dataSource.destroy();
    throw error;
  });
  if (resealed > 0) logger.info('re-sealed stored Stripe secrets bound to their account', { connections: resealed });
  // Before taking or queueing any event: every process on this queue prefix must use the same shards.
  const layoutClaim = await claimQueueLayout(dataSource, { prefix: config.QUEUE_PREFIX, shards: queues.shards, role: config.ROLE }, logger).catch(async (error: unknown) => {
    await dataSource.destroy();
    throw error;
  });
  if (config.ROLE !== 'worker' && config.STRIPE_WEBHOOK_SECRET.length === 0) {
    logger.warn('STRIPE_WEBHOOK_SECRET is not set: POST /webhooks/stripe answers 503 webhook_not_configured (Stripe keeps retrying) until it is');
  }
  if (config.ROLE !== 'worker' && !config.ADMIN_TOKEN) logger.warn('ADMIN_TOKEN is not set: the API can only be used with tokens already created');

  const api = config.ROLE !== 'worker' ? await startApi(core) : undefined;
  const workers = config.ROLE !== 'api' ? startWorkers(core) : undefined;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Connections closing from here on are not an outage.
      core.redisHealth.stop();
      // Stop taking webhooks while active jobs finish (both bounded), then close Redis and the database.
      const steps = [() => Promise.all([api?.stopIntake(), workers?.close()]), () => api?.close(), () => layoutClaim.release(), () => dataSource.destroy()];
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          logger.warn('error while stopping', { error: String(error) });
        }
      }
    })());
  return { config, port: api?.port, server: api?.server, app: api?.app, worker: workers?.worker, eventWorkers: workers?.eventWorkers, stop };
}

/** The database created if missing, opened and migrated; a failure says what to fix in DATABASE_URL. */
async function openDatabase(databaseUrl: string, logger: Logger): Promise<DataSource> {
  let step: DatabaseStep = 'connecting';
  const dataSource = createDataSource(databaseUrl);
  try {
    const created = await ensureDatabase(databaseUrl);
    step = 'opening';
    await dataSource.initialize();
    step = 'migrating';
    const applied = await migrate(dataSource);
    // Says which database a newcomer's service is on, and what start-up did to it.
    logger.info('database ready', { database: maskUrlPassword(databaseUrl), created, migrationsApplied: applied.length });
    return dataSource;
  } catch (error) {
    if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    throw databaseStartupError(error, databaseUrl, step);
  }
}

/** `npm start`: one process, ROLE decides which sides run; SIGTERM/SIGINT stop it gracefully. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const service = await start(config, { logger });
  const shutdown = (signal: string) => {
    logger.info('stopping', { signal });
    // Jobs finish first; a job that hangs must not keep the process past its orchestrator's grace period.
    setTimeout(() => process.exit(1), 15_000).unref();
    void service.stop().then(() => {
      logger.info('stopped', { signal });
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  // From here a SIGTERM stops it gracefully; before, it ends the process at once (nothing taken yet to finish).
  logger.info('started', { role: config.ROLE, pid: process.pid });
}

if (isEntryPoint(import.meta.url)) {
  main().catch((error: unknown) => {
    const failure = startupFailure(error);
    console.error(failure.message);
    process.exit(failure.exitCode);
  });
}
