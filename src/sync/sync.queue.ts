import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connections.js';
import type { CatchUpOutcome, CatchUpTrigger } from './catch-up.service.js';
import type { EndpointHealthView } from './endpoint-health.service.js';
import type { SyncGateway } from './sync-state.js';

/** The queue of the work that keeps the inbox in step with the gateways: each account's catch-up (Stripe's, PayPal's) and Stripe endpoint check. */
export const SYNC_QUEUE_NAME = 'stripe-sync';
export const CATCH_UP_JOB = 'catch-up';

export interface SyncJobData {
  /** null: the default account. */
  accountId: string | null;
  /** Whose events to list; absent (jobs and schedulers from before PayPal's catch-up): Stripe's. */
  gateway?: SyncGateway;
  trigger: CatchUpTrigger;
  /** ISO times of an operator's window; absent: the account's own. */
  since?: string;
  until?: string;
  /** Who asked (an operator's token name). */
  requestedBy?: string;
}

/** What a job returns (kept with the job: the CLI prints it). */
export interface SyncJobResult {
  catchUp: CatchUpOutcome | { ran: false; accountId: string | null; gateway: SyncGateway; reason: 'not_connected' };
  /** Merchant accounts only (the default account's endpoint is configured outside the service): their Stripe endpoint's or PayPal webhook's health. */
  webhookEndpoint: EndpointHealthView | null;
}

export function createSyncQueue(connection: RedisClient, prefix: string): Queue<SyncJobData> {
  return new Queue<SyncJobData>(SYNC_QUEUE_NAME, {
    connection,
    prefix,
    defaultJobOptions: {
      // A failed run is not retried: the next one (every CATCH_UP_INTERVAL_MS) lists the same window and more.
      attempts: 1,
      // Kept for the ops CLI's progress and summary, and the queue UI.
      removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
      removeOnFail: { age: 14 * 24 * 3600, count: 1000 },
    },
  });
}

const label = (accountId: string | null) => accountId ?? 'default';

/** What one catch-up lists: an account's events of one gateway. */
export interface SyncTarget {
  accountId: string | null;
  gateway: SyncGateway;
}

/**
 * One job scheduler per account and gateway; '@' because BullMQ's ids must not hold ':'. Stripe's
 * keep their ids from before PayPal's catch-up (`catch-up@<account>`), PayPal's are
 * `catch-up@paypal@<account>` (account ids never hold '@').
 */
const SCHEDULER_PREFIX = 'catch-up@';
export const catchUpSchedulerId = (accountId: string | null, gateway: SyncGateway = 'stripe') =>
  `${SCHEDULER_PREFIX}${gateway === 'stripe' ? '' : `${gateway}@`}${label(accountId)}`;

/**
 * Makes the queue's catch-up schedulers exactly one per account and gateway with a key, every
 * `intervalMs` (none when 0). Idempotent: every worker process runs it (at start, then each
 * minute), and an upsert of an unchanged scheduler changes nothing. A new scheduler's first job runs at once.
 */
export async function syncCatchUpSchedulers(queue: Queue<SyncJobData>, targets: SyncTarget[], intervalMs: number): Promise<void> {
  const wanted = new Map(intervalMs > 0 ? targets.map((target) => [catchUpSchedulerId(target.accountId, target.gateway), target] as const) : []);
  const existing = await queue.getJobSchedulers(0, -1);
  for (const scheduler of existing) {
    if (scheduler.key.startsWith(SCHEDULER_PREFIX) && !wanted.has(scheduler.key)) await queue.removeJobScheduler(scheduler.key);
  }
  const current = new Map(existing.map((scheduler) => [scheduler.key, Number(scheduler.every)]));
  for (const [id, { accountId, gateway }] of wanted) {
    if (current.get(id) === intervalMs) continue;
    // Stripe's job data stays as it was (no gateway: Stripe), so a scheduler made before is unchanged.
    await queue.upsertJobScheduler(id, { every: intervalMs }, { name: CATCH_UP_JOB, data: { accountId, ...(gateway === 'stripe' ? {} : { gateway }), trigger: 'schedule' } });
  }
}

/** Once after start-up, each account's run per gateway (one of several processes' runs finds the others' under way and skips). */
export async function addStartupRuns(queue: Queue<SyncJobData>, targets: SyncTarget[]): Promise<void> {
  if (targets.length === 0) return;
  await queue.addBulk(targets.map(({ accountId, gateway }) => ({ name: CATCH_UP_JOB, data: { accountId, ...(gateway === 'stripe' ? {} : { gateway }), trigger: 'startup' as const } })));
}

/** An operator's run of one account (one gateway): its job id is the handle the CLI polls. */
export const operatorRun = (data: Omit<SyncJobData, 'trigger'>) => ({
  name: CATCH_UP_JOB,
  data: { ...data, trigger: 'operator' as const },
  opts: { jobId: `op-${data.gateway === 'paypal' ? 'paypal-' : ''}${label(data.accountId)}-${randomBytes(6).toString('hex')}` },
});
