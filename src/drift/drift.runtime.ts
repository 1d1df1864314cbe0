import type { DataSource } from 'typeorm';
import type { Config } from '../../config/env.schema.js';
import type { AccountService } from '../accounts/account.service.js';
import type { Ingestor } from '../events/ingest.js';
import { SUBSCRIBED_EVENT_TYPES } from '../events/subscribed-events.js';
import type { AuditLog } from '../ops/audit-log.js';
import type { Logger } from '../shared/logger.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { createCatchUp } from '../sync/catch-up.service.js';
import { createSyncState } from '../sync/sync-state.js';
import { createDriftService, type DriftService } from './drift.service.js';

/**
 * The API side's drift check. A repair runs the catch-up in this process, with the API's own
 * Ingestor (the delivery's path into the inbox and queue): it answers once its events are
 * processed, so it is not left to a queue the request would have to poll. The catch-up's run lock
 * keeps it from running beside another run of the same account, in any process.
 */
export function createApiDrift(deps: {
  config: Config;
  dataSource: DataSource;
  accounts: AccountService;
  stripeClients: StripeClients;
  audit: AuditLog;
  ingestor: Ingestor;
  logger: Logger;
  now?: () => Date;
}): DriftService {
  const stripe = { apiBase: deps.config.STRIPE_API_BASE };
  return createDriftService({
    dataSource: deps.dataSource,
    accounts: deps.accounts,
    stripeClients: deps.stripeClients,
    audit: deps.audit,
    logger: deps.logger,
    stripe,
    maxRps: deps.config.CATCH_UP_MAX_RPS,
    subscribedTypes: SUBSCRIBED_EVENT_TYPES,
    now: deps.now,
    catchUp: createCatchUp({
      dataSource: deps.dataSource,
      ingestor: deps.ingestor,
      stripeClients: deps.stripeClients,
      syncState: createSyncState(deps.dataSource),
      logger: deps.logger,
      stripe,
      maxRps: deps.config.CATCH_UP_MAX_RPS,
      subscribedTypes: SUBSCRIBED_EVENT_TYPES,
      now: deps.now,
    }),
  });
}
