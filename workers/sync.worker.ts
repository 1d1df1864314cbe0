import { Worker } from 'bullmq';
import type { RedisClient } from '../src/redis/connections.js';
import { SYNC_QUEUE_NAME, type SyncJobData, type SyncJobResult } from '../src/sync/sync.queue.js';
import type { CatchUp } from '../src/sync/catch-up.service.js';
import type { PaypalCatchUp } from '../src/sync/paypal-catch-up.service.js';
import type { PaypalWebhookHealth } from '../src/sync/paypal-webhook-health.service.js';
import type { EndpointHealth, EndpointHealthView } from '../src/sync/endpoint-health.service.js';
import { runWithContext } from '../src/shared/context.js';
import { AppError, describeError } from '../src/shared/errors.js';
import type { Logger } from '../src/shared/logger.js';
import type { RedisHealth } from '../src/events/redis-health.js';

export interface SyncWorkerOptions {
  connection: RedisClient;
  prefix: string;
  catchUp: CatchUp;
  paypalCatchUp: Pick<PaypalCatchUp, 'run'>;
  endpointHealth: EndpointHealth;
  paypalWebhookHealth: Pick<PaypalWebhookHealth, 'check'>;
  logger: Logger;
  redisHealth: RedisHealth;
  /** Aborted when the process stops. */
  signal?: AbortSignal;
}

/** Accounts caught up at once by one process (each is paced on its own, and one run per account runs anywhere). */
const SYNC_CONCURRENCY = 4;

/**
 * The stripe-sync queue's worker: one account's catch-up of one gateway (Stripe's unless the job
 * says PayPal), then the check of its Stripe endpoint or PayPal webhook. Progress goes
 * to the job (the ops CLI polls it); the summary is the job's return value.
 */
export function createSyncWorker(options: SyncWorkerOptions): Worker<SyncJobData, SyncJobResult> {
  const { catchUp, paypalCatchUp, endpointHealth, paypalWebhookHealth, logger } = options;
  const worker = new Worker<SyncJobData, SyncJobResult>(
    SYNC_QUEUE_NAME,
    (job) =>
      runWithContext({ jobId: job.id, ...(job.data.accountId ? { accountId: job.data.accountId } : {}) }, async () => {
        const { accountId, trigger } = job.data;
        const gateway = job.data.gateway ?? 'stripe';
        let outcome: SyncJobResult['catchUp'];
        try {
          outcome = await (gateway === 'paypal' ? paypalCatchUp : catchUp).run({
            accountId,
            trigger,
            since: job.data.since ? new Date(job.data.since) : undefined,
            until: job.data.until ? new Date(job.data.until) : undefined,
            // An operator asked for this run: it waits for an automatic one under way instead of being dropped.
            ifBusy: trigger === 'operator' ? 'wait' : 'skip',
            onProgress: (progress) => job.updateProgress({ ...progress }),
            signal: options.signal,
          });
        } catch (error) {
          // Disconnected since it was scheduled: its scheduler goes at the next sync of schedulers.
          if (!(error instanceof AppError && (error.code === 'stripe_not_connected' || error.code === 'paypal_not_connected'))) throw error;
          logger.info('catch-up skipped: the account has no key any more', { accountId, gateway });
          outcome = { ran: false, accountId, gateway, reason: 'not_connected' };
        }
        let webhookEndpoint: EndpointHealthView | null = null;
        if (accountId !== null && !(outcome.ran === false && outcome.reason === 'not_connected')) {
          webhookEndpoint = await (gateway === 'paypal' ? paypalWebhookHealth : endpointHealth).check(accountId).catch((error: unknown) => {
            logger.warn('webhook endpoint check failed', { accountId, error: describeError(error) });
            return null;
          });
        }
        return { catchUp: outcome, webhookEndpoint };
      }),
    { connection: options.connection, prefix: options.prefix, concurrency: SYNC_CONCURRENCY },
  );
  worker.on('error', options.redisHealth.errorListener('sync worker error'));
  worker.on('failed', (job, error) => logger.warn('sync job failed', { jobId: job?.id, accountId: job?.data.accountId ?? null, gateway: job?.data.gateway ?? 'stripe', error: error.message }));
  return worker;
}
