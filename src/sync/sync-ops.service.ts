import type { Queue } from 'bullmq';
import { z } from 'zod';
import type { AccountService } from '../accounts/account.service.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import type { AuditActor, AuditLog } from '../ops/audit-log.js';
import { accountInScope, accountLabel, parseAccountChoice } from '../ops/event-copies.js';
import { parseInstant } from '../ops/time-range.js';
import { AppError } from '../shared/errors.js';
import type { AccountSyncStats } from '../shared/metrics.js';
import { catchUpWindow } from './catch-up-window.js';
import type { CatchUpProgress } from './catch-up.service.js';
import type { EndpointHealth, EndpointHealthView } from './endpoint-health.service.js';
import { paypalNotConnected } from './paypal-catch-up.service.js';
import type { PaypalWebhookHealth } from './paypal-webhook-health.service.js';
import type { SyncGateway, SyncState, SyncStateRow } from './sync-state.js';
import { operatorRun, type SyncJobData, type SyncJobResult } from './sync.queue.js';

export interface SyncOpsDeps {
  /** Stripe's catch-up state. */
  syncState: SyncState;
  /** PayPal's (gateway 'paypal'). */
  paypalSyncState: SyncState;
  endpointHealth: EndpointHealth;
  /** The PayPal webhook's health as last checked. */
  paypalWebhookHealth: Pick<PaypalWebhookHealth, 'view'>;
  accounts: AccountService;
  stripeClients: StripeClients;
  audit: AuditLog;
  /** The stripe-sync queue; undefined while Redis cannot be reached. */
  queue: () => Promise<Queue<SyncJobData> | undefined>;
  /** STRIPE_SECRET_KEY is set: the default account is caught up too. */
  defaultKeySet: boolean;
  intervalMs: number;
}

const catchUpBody = z.object({
  accountId: z.unknown().optional(),
  gateway: z.enum(['stripe', 'paypal']).optional(),
  since: z.string().optional(),
  until: z.string().optional(),
});

const iso = (date: Date | null) => date?.toISOString() ?? null;

const lastRunOf = (row: SyncStateRow | undefined) =>
  row?.last_run_started_at
    ? {
        trigger: row.last_run_trigger,
        outcome: row.last_run_outcome,
        startedAt: iso(row.last_run_started_at),
        finishedAt: iso(row.last_run_finished_at),
        listed: row.last_run_listed,
        new: row.last_run_new,
        error: row.last_run_error,
      }
    : null;

/** On-call's side of the catch-up and endpoint health (the API): status, runs on demand, their progress, repairs. */
export function createSyncOps(deps: SyncOpsDeps) {
  const queue = async () => {
    const built = await deps.queue();
    if (!built) throw new AppError(503, 'queue_unavailable', 'Redis has not been reachable since this process started: check REDIS_URL and /readyz, then try again.');
    return built;
  };

  const stateOf = (gateway: SyncGateway) => (gateway === 'paypal' ? deps.paypalSyncState : deps.syncState);
  const gatewayAccounts = (gateway: SyncGateway) => stateOf(gateway).accountsWithKey(deps.defaultKeySet);

  return {
    /**
     * Per account and gateway it can be caught up for (Stripe: a key; PayPal: a connection): its last
     * catch-up, what catch-up recovered, and its Stripe endpoint's or PayPal webhook's health. `onlyAccount`: that account's only.
     */
    async status(onlyAccount?: string) {
      const data = [];
      for (const gateway of ['stripe', 'paypal'] as const) {
        const accounts = (await gatewayAccounts(gateway)).filter((id) => !onlyAccount || id === onlyAccount);
        for (const accountId of accounts) {
          const row = await stateOf(gateway).get(accountId);
          data.push({
            accountId: accountLabel(accountId),
            gateway,
            lastRun: lastRunOf(row),
            lastSuccessAt: iso(row?.last_success_at ?? null),
            watermark: iso(row?.watermark_at ?? null),
            recoveredTotal: Number(row?.recovered_total ?? 0),
            // The default account's endpoint is set up outside the service (STRIPE_WEBHOOK_SECRET): not watched.
            webhookEndpoint: accountId === null ? null : gateway === 'paypal' ? await deps.paypalWebhookHealth.view(accountId) : await deps.endpointHealth.view(accountId),
          });
        }
      }
      return { intervalMs: deps.intervalMs, data };
    },

    /**
     * POST /api/ops/catch-up {accountId?, gateway?, since?, until?}: one job per account (each account
     * the gateway can be caught up for when none is named; a token confined to one account: that
     * account), run by the workers; 202 with the job ids to follow. Audited. `gateway`: stripe
     * (the default) or paypal.
     */
    async start(body: unknown, actor: AuditActor, onlyAccount?: string) {
      const parsed = catchUpBody.safeParse(body ?? {});
      if (!parsed.success) {
        throw new AppError(400, 'invalid_body', 'Send {"accountId"?: "ma_…" | "default", "gateway"?: "stripe" | "paypal", "since"?: "3d" | ISO time, "until"?: …}.');
      }
      const gateway = parsed.data.gateway ?? 'stripe';
      const now = new Date();
      const since = parsed.data.since ? parseInstant(parsed.data.since, 'since', now) : undefined;
      const until = parsed.data.until ? parseInstant(parsed.data.until, 'until', now) : undefined;
      // Refuses a window the gateway cannot list, before anything is queued.
      catchUpWindow({ now, watermark: null, since, until, gatewayName: gateway === 'paypal' ? 'PayPal' : 'Stripe' });
      let accounts: (string | null)[];
      if (parsed.data.accountId === undefined && !onlyAccount) {
        accounts = await gatewayAccounts(gateway);
        if (accounts.length === 0 && gateway === 'paypal') {
          throw new AppError(409, 'paypal_not_connected', 'No account has connected PayPal, so there are no PayPal events to list: connect one first (PUT /api/accounts/:id/paypal).');
        }
        if (accounts.length === 0) {
          throw new AppError(409, 'stripe_not_connected', 'No account has a Stripe key to list events with: set STRIPE_SECRET_KEY, or connect an account (PUT /api/accounts/:id/stripe).');
        }
      } else {
        const accountId = await accountInScope(parseAccountChoice(parsed.data.accountId), onlyAccount, deps.accounts);
        if (gateway === 'paypal') {
          if (accountId === null || !(await gatewayAccounts('paypal')).includes(accountId)) throw paypalNotConnected(accountId);
        } else {
          await deps.stripeClients.apiKey(accountId); // 409 stripe_not_connected without a key
        }
        accounts = [accountId];
      }
      const runs = accounts.map((accountId) =>
        operatorRun({ accountId, ...(gateway === 'paypal' ? { gateway } : {}), since: since?.toISOString(), until: until?.toISOString(), requestedBy: actor.name }),
      );
      await (await queue()).addBulk(runs);
      const jobs = runs.map((run) => ({ accountId: accountLabel(run.data.accountId), gateway, jobId: run.opts.jobId }));
      const auditId = await deps.audit.record({
        actor,
        action: 'catch_up.run',
        target: parsed.data.accountId === undefined ? null : jobs[0]!.accountId,
        count: jobs.length,
        details: { gateway, since: since?.toISOString() ?? null, until: until?.toISOString() ?? null, jobs },
      });
      return { jobs, auditId };
    },

    /** GET /api/ops/catch-up/jobs/:jobId: where an operator's run stands, and its summary once done. Another account's job is as missing to a scoped token. */
    async job(jobId: string, onlyAccount?: string) {
      const valid = /^op-[A-Za-z0-9_-]{1,80}$/.test(jobId);
      // The state first: read after it, a finished job's record carries its result.
      const jobs = await queue();
      const state = valid ? await jobs.getJobState(jobId) : 'unknown';
      const job = state === 'unknown' ? undefined : await jobs.getJob(jobId);
      if (!job || (onlyAccount && job.data.accountId !== onlyAccount)) {
        throw new AppError(404, 'job_not_found', `No catch-up job ${jobId}: use the jobId POST /api/ops/catch-up answered (finished jobs are kept 7 days).`);
      }
      const result = (job.returnvalue ?? null) as SyncJobResult | null;
      return {
        jobId,
        accountId: accountLabel(job.data.accountId),
        gateway: job.data.gateway ?? 'stripe',
        state,
        requestedBy: job.data.requestedBy ?? null,
        progress: typeof job.progress === 'object' ? (job.progress as unknown as CatchUpProgress) : null,
        catchUp: result?.catchUp ?? null,
        webhookEndpoint: result?.webhookEndpoint ?? null,
        error: state === 'failed' ? (job.failedReason ?? 'failed') : null,
      };
    },

    /** The connection's `webhookEndpoint` (GET /api/accounts/:id/stripe). */
    endpointView: (accountId: string): Promise<EndpointHealthView> => deps.endpointHealth.view(accountId),

    async repairEndpoint(accountId: string, actor: AuditActor, onlyAccount?: string) {
      await deps.accounts.get(accountId, onlyAccount); // another account's: 404, as a missing one
      return deps.endpointHealth.repair(accountId, actor);
    },

    /** For /metrics: Stripe's accounts with a key, then PayPal's connected ones. */
    async metrics(): Promise<AccountSyncStats[]> {
      const rows = [...(await deps.syncState.listActive(deps.defaultKeySet)), ...(await deps.paypalSyncState.listActive(false))];
      return rows.map((row) => {
        const current = row.endpoint_checked_at !== null && row.endpoint_id !== null && row.endpoint_id === row.connection_endpoint_id;
        return {
          account: accountLabel(row.account_id),
          gateway: row.gateway,
          recoveredTotal: Number(row.recovered_total),
          lastSuccessAt: row.last_success_at ? Math.floor(row.last_success_at.getTime() / 1000) : null,
          endpointProblems: current ? (JSON.parse(row.endpoint_problems ?? '[]') as unknown[]).length : null,
        };
      });
    },
  };
}

export type SyncOps = ReturnType<typeof createSyncOps>;
