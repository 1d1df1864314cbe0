import type { Server, ServerResponse } from 'node:http';
import type { Express } from 'express';
import type { AddressInfo } from 'node:net';
import { createApp } from '../app.js';
import { webhookIntake } from '../http/webhook-intake.js';
import { createProducerConnection, onJobsMayBeLost } from '../redis/connections.js';
import { EventPublisher } from '../events/event-publisher.js';
import { Ingestor, insertFailedLog } from '../events/ingest.js';
import { createRelay } from '../events/relay.js';
import { createSecretResolver } from '../stripe/webhook-secrets.js';
import { createPayNowService } from '../billing/pay-now.service.js';
import { createPayLinkService } from '../billing/pay-link.service.js';
import { createPayWithPaypalService } from '../billing/pay-with-paypal.service.js';
import { createPayPage } from '../billing/pay-page.js';
import { createInvoiceService } from '../billing/invoice.service.js';
import { accessTokenVerifier } from '../access/token.service.js';
import { createOpsServices } from '../ops/ops.services.js';
import type { Core } from './core-services.js';
import { closeRedis } from './graceful-close.js';
import { createHttpServer } from './http-server.js';
import { listenStartupError } from './startup-errors.js';
import { rateLimitedLog } from '../shared/rate-limited-log.js';
import { startSyncOps } from '../sync/sync-ops.runtime.js';
import { createApiDrift } from '../drift/drift.runtime.js';

/** Requests in flight get this long to be answered once stopping. */
const INTAKE_DRAIN_MS = 3000;

export interface ApiRuntime {
  server: Server;
  /** The Express app behind the webhook intake (tests read its routes). */
  app: Express;
  port: number;
  /** Stops taking requests; then the relay and Redis. */
  stopIntake(): Promise<void>;
  close(): Promise<void>;
}

/** The API side (ROLE all|api): HTTP server, inbox, queue publisher, relay. */
export async function startApi(core: Core): Promise<ApiRuntime> {
  const { config, dataSource, logger, metrics, accounts, connections, stripeClients, redisHealth, queues } = core;
  const redis = createProducerConnection(core.redis, redisHealth);
  const publisher = new EventPublisher({
    connection: redis,
    redisHealth,
    layout: queues,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
  });
  metrics.sources.queueCounts = () => publisher.jobCounts();
  metrics.sources.shardCounts = () => publisher.jobCountsByQueue();
  const ops = createOpsServices({ dataSource, publisher, redis, redisHealth, queues, relayAfterMs: config.RELAY_AFTER_MS, logger });
  metrics.sources.eventStats = ops.eventStats;
  const sync = startSyncOps({ config, dataSource, accounts, connections, paypalConnections: core.paypal.connections, stripeClients, logger, redis, queues, redisHealth, now: core.now });
  metrics.sources.syncStats = sync.metrics;
  const relay = createRelay({ dataSource, publisher, logger, metrics, intervalMs: config.RELAY_INTERVAL_MS, afterMs: config.RELAY_AFTER_MS });
  // A Redis that restarted, or a cluster master that failed over, may have lost queued jobs: the next relay pass looks at every stored event.
  onJobsMayBeLost(redis, () => relay.rescan());

  const insertFailed = insertFailedLog(logger, config.FAILURE_LOG_INTERVAL_MS);
  const webhooks = {
    ingestor: new Ingestor({ dataSource, publisher, logger, metrics, insertFailed }),
    resolveSecrets: createSecretResolver({
      envSecrets: config.STRIPE_WEBHOOK_SECRET,
      accountSecrets: (id) => connections.webhookSecrets(id),
      now: core.now,
    }),
    metrics,
    logger,
    signatureRejected: rateLimitedLog(logger, {
      level: 'warn',
      message: 'webhook signature rejected',
      keyField: 'account',
      intervalMs: config.SIGNATURE_LOG_INTERVAL_MS,
    }),
    expectedFailures: rateLimitedLog(logger, {
      level: 'error',
      message: 'request failed',
      keyField: 'cause',
      intervalMs: config.FAILURE_LOG_INTERVAL_MS,
    }),
  };
  const paypalConnections = core.paypal.connections;
  const payWithPaypal = createPayWithPaypalService({ dataSource, stripeClients, paypalConnections, api: core.paypal.api });
  // A card payment waits while a PayPal capture of the invoice is being recorded, and the reverse.
  const payNow = createPayNowService({ dataSource, stripeClients, otherGateways: payWithPaypal.refuseWhileCapturing });
  const drift = createApiDrift({ config, dataSource, accounts, stripeClients, audit: ops.audit, ingestor: webhooks.ingestor, logger, now: core.now });
  const app = createApp({
    dataSource,
    redis,
    ...webhooks,
    // ADMIN_TOKEN bootstraps; every other token lives (hashed) in access_tokens.
    verifyToken: accessTokenVerifier(config.ADMIN_TOKEN, ops.tokens),
    invoices: createInvoiceService({ dataSource, accountExists: (id) => accounts.exists(id) }),
    payNow,
    payLinks: createPayLinkService({ dataSource, payNow, publicBaseUrl: config.PUBLIC_BASE_URL, now: core.now }),
    payPage: createPayPage({ dataSource, stripeClients, paypalConnections }),
    payWithPaypal,
    accounts,
    connections,
    paypalConnections,
    paypalSignatures: core.paypal.signatures,
    ops,
    sync: sync.ops,
    drift,
    logger,
    metrics,
    metricsToken: config.METRICS_TOKEN,
    trustProxy: config.TRUST_PROXY,
  });
  // Webhooks are taken before Express (http/webhook-intake.ts); everything else is the app's.
  const intake = webhookIntake(webhooks);
  const server = createHttpServer(config, logger, (req, res) => {
    if (!intake(req, res)) app(req, res);
  });
  // A port already taken must fail start-up (exit 78, naming PORT), not surface as an uncaught 'error' event.
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenStartupError(error, config.PORT)));
    server.listen(config.PORT, () => {
      server.off('error', reject);
      resolve();
    });
  });
  relay.start();
  const port = (server.address() as AddressInfo).port;
  logger.info('api listening', { port });

  let stopping = false;
  // While stopping, every answer tells the client to go elsewhere for the next request.
  server.on('request', (_req, res: ServerResponse) => {
    if (stopping) res.setHeader('Connection', 'close');
  });
  let intakeStopped: Promise<void> | undefined;
  const stopIntake = () =>
    (intakeStopped ??= new Promise<void>((resolve) => {
      stopping = true;
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      // Busy keep-alive connections close after their current answer; whatever is left then is cut.
      const cut = setTimeout(() => server.closeAllConnections(), INTAKE_DRAIN_MS);
      server.close(() => {
        clearInterval(sweep);
        clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
    }));
  return {
    server,
    app,
    port,
    stopIntake,
    async close() {
      await stopIntake();
      // The counts of rejected signatures and failures not logged yet.
      webhooks.signatureRejected.flush();
      webhooks.expectedFailures.flush();
      insertFailed.flush();
      await relay.stop();
      await publisher.close();
      await sync.close();
      await closeRedis(redis);
    },
  };
}
