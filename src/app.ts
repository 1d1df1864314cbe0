import express, { type Express } from 'express';
import type { DataSource } from 'typeorm';
import type { RedisClient } from './redis/connections.js';
import type { Ingestor } from './events/ingest.js';
import type { WebhookSecretResolver } from './stripe/webhook-secrets.js';
import { authenticate, type TokenVerifier } from './http/auth.middleware.js';
import type { Logger } from './shared/logger.js';
import type { Metrics } from './shared/metrics.js';
import type { RateLimitedLog } from './shared/rate-limited-log.js';
import { requestContext } from './http/request-context.middleware.js';
import { webhookRouter } from './http/webhook.route.js';
import { paypalWebhookRouter } from './http/paypal-webhook.route.js';
import type { PaypalSignatureVerifier } from './paypal/verify-signature.js';
import { healthRouter } from './http/health.route.js';
import { opsEventsRouter } from './http/ops-events.route.js';
import { invoicesRouter } from './http/invoices.route.js';
import type { InvoiceService } from './billing/invoice.service.js';
import type { PayNowService } from './billing/pay-now.service.js';
import type { PayLinkService } from './billing/pay-link.service.js';
import type { PayPage } from './billing/pay-page.js';
import type { PayWithPaypalService } from './billing/pay-with-paypal.service.js';
import { payRouter } from './http/pay.route.js';
import type { AccountService } from './accounts/account.service.js';
import type { ConnectionService } from './stripe/connection.service.js';
import type { PaypalConnectionService } from './paypal/paypal-connection.service.js';
import { accountsRouter } from './http/accounts.route.js';
import { syncRouter } from './http/sync.route.js';
import { driftRouter } from './http/drift.route.js';
import type { DriftService } from './drift/drift.service.js';
import type { SyncOps } from './sync/sync-ops.service.js';
import { tokensRouter } from './http/tokens.route.js';
import { meRouter } from './http/me.route.js';
import { queueUiRouter } from './ops/queue-ui.js';
import type { OpsServices } from './ops/ops.services.js';
import { reconciliationRouter } from './http/reconciliation.route.js';
import { dashboardRouter } from './http/dashboard.route.js';
import { createReconciliationService } from './reconciliation/reconciliation.service.js';
import { createPayoutsService } from './reconciliation/payouts.service.js';
import { errorHandler, notFound, refuseOptions } from './http/error.middleware.js';
import { securityHeaders } from './http/security-headers.js';
import { rejectLoneSurrogates, requireJsonBody } from './http/json-body.middleware.js';

export interface AppDeps {
  dataSource: DataSource;
  redis: RedisClient;
  ingestor: Ingestor;
  resolveSecrets: WebhookSecretResolver;
  signatureRejected: RateLimitedLog;
  /** A request failing for a known cause (storage_unavailable…), logged once per interval per cause. */
  expectedFailures: RateLimitedLog;
  verifyToken: TokenVerifier;
  invoices: InvoiceService;
  payNow: PayNowService;
  payLinks: PayLinkService;
  /** GET /pay/:token: what the payer's page shows and offers. */
  payPage: PayPage;
  /** Pay with PayPal through a pay link: orders and their capture. */
  payWithPaypal: PayWithPaypalService;
  accounts: AccountService;
  connections: ConnectionService;
  /** Settings > Payment Gateways > PayPal. */
  paypalConnections: PaypalConnectionService;
  /** The offline check of PayPal's deliveries (POST /webhooks/paypal/:accountId). */
  paypalSignatures: PaypalSignatureVerifier;
  /** On-call and access: tokens, audit log, event search, replay, the queue UI's queues. */
  ops: OpsServices;
  /** Catch-up from Stripe and webhook endpoint health: status, runs on demand, repair. */
  sync: SyncOps;
  /** The drift check against Stripe's lists, and its repair (a catch-up of the kinds that differ). */
  drift: DriftService;
  logger: Logger;
  metrics: Metrics;
  /** METRICS_TOKEN: when set, GET /metrics needs it as a bearer token. */
  metricsToken?: string;
  /** TRUST_PROXY: Express's `trust proxy` (false: the peer is the client, X-Forwarded-* ignored). */
  trustProxy?: boolean | number | string[];
}

/** The Express app, without listen(): main.ts serves it, tests run it in-process. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETags: every answer here is live data (nothing uses conditional GETs), and hashing each
  // response body is a cost on the webhook path, the hottest one. The dashboard's files still
  // revalidate by Last-Modified.
  app.set('etag', false);
  // Behind a TLS proxy, req.secure (the queue UI's Secure cookie) and req.ip come from X-Forwarded-*,
  // but only from the hops TRUST_PROXY names: trusted from anyone, the header would let any client say https.
  app.set('trust proxy', deps.trustProxy ?? false);
  // <, > and & in JSON as \u003c…: an id echoed in an error message can never read as markup.
  app.set('json escape', true);
  // helmet's headers on every answer, webhooks and errors included (precomputed: http/security-headers.ts).
  app.use(securityHeaders);
  app.use(requestContext);
  app.use(refuseOptions);
  // Raw body: must come before any JSON parser or every signature fails.
  app.use(webhookRouter(deps));
  app.use(paypalWebhookRouter(deps));

  app.use(healthRouter({ dataSource: deps.dataSource, redis: deps.redis, registry: deps.metrics.registry, metricsToken: deps.metricsToken }));

  // Every /api route needs a token (DESIGN.md, Access): checked before the body is read, so a
  // request without one costs no parsing; the routers then check only the role.
  app.use('/api', authenticate(deps.verifyToken), requireJsonBody, express.json({ limit: '100kb' }), rejectLoneSurrogates);
  app.use(opsEventsRouter(deps));
  app.use(tokensRouter(deps));
  app.use(meRouter(deps));
  app.use(queueUiRouter(deps));
  app.use(invoicesRouter(deps));
  app.use(payRouter(deps));
  app.use(accountsRouter(deps));
  app.use(syncRouter(deps));
  app.use(driftRouter(deps));

  app.use(
    reconciliationRouter({
      reconciliation: createReconciliationService({ dataSource: deps.dataSource }),
      payouts: createPayoutsService({ dataSource: deps.dataSource }),
      verifyToken: deps.verifyToken,
      logger: deps.logger,
    }),
  );
  app.use(dashboardRouter());

  app.use(notFound);
  app.use(errorHandler(deps));
  return app;
}
