import type { DataSource } from 'typeorm';
import { accountScope } from '../shared/account-scope.js';

/** What an account's webhook endpoint is found to have wrong; `check_failed`: Stripe could not be asked. */
export type EndpointProblemCode = 'disabled' | 'deleted' | 'wrong_url' | 'missing_event_types' | 'check_failed';

export interface EndpointProblem {
  code: EndpointProblemCode;
  message: string;
}

/** Whose events a catch-up lists. */
export type SyncGateway = 'stripe' | 'paypal';
export const SYNC_GATEWAYS: readonly SyncGateway[] = ['stripe', 'paypal'];

export interface SyncStateRow {
  account_scope: string;
  gateway: SyncGateway;
  account_id: string | null;
  watermark_at: Date | null;
  last_success_at: Date | null;
  last_run_started_at: Date | null;
  last_run_finished_at: Date | null;
  last_run_trigger: string | null;
  last_run_outcome: string | null;
  last_run_error: string | null;
  last_run_listed: number | null;
  last_run_new: number | null;
  recovered_total: string | number;
  endpoint_id: string | null;
  endpoint_stripe_status: string | null;
  endpoint_problems: string | null;
  endpoint_checked_at: Date | null;
}

/**
 * `stripe_sync_state`: per account scope and gateway, the catch-up's watermark and last run, the
 * events it recovered, and (Stripe's) the webhook endpoint's health as last checked. Rows are
 * created on first write. One of these reads and writes one gateway's rows (Stripe's by default).
 */
export function createSyncState(dataSource: DataSource, gateway: SyncGateway = 'stripe') {
  const upsert = (accountId: string | null, columns: Record<string, unknown>) => {
    const names = Object.keys(columns);
    return dataSource.query(
      `INSERT INTO stripe_sync_state (account_scope, gateway, account_id, ${names.join(', ')}) VALUES (?, ?, ?, ${names.map(() => '?').join(', ')})
       ON DUPLICATE KEY UPDATE ${names.map((name) => `${name} = VALUES(${name})`).join(', ')}`,
      [accountScope(accountId), gateway, accountId, ...Object.values(columns)],
    );
  };

  return {
    gateway,

    async get(accountId: string | null): Promise<SyncStateRow | undefined> {
      const [row] = (await dataSource.query('SELECT * FROM stripe_sync_state WHERE account_scope = ? AND gateway = ?', [accountScope(accountId), gateway])) as SyncStateRow[];
      return row;
    },

    runStarted: (accountId: string | null, trigger: string, at: Date) =>
      upsert(accountId, { last_run_started_at: at, last_run_finished_at: null, last_run_trigger: trigger, last_run_outcome: 'running', last_run_error: null }),

    /** `watermark`: the run's start when it covered the account's whole window (else the watermark stays). */
    async runSucceeded(accountId: string | null, run: { finishedAt: Date; listed: number; fresh: number; watermark: Date | null }) {
      await upsert(accountId, {
        last_run_finished_at: run.finishedAt,
        last_run_outcome: 'succeeded',
        last_run_listed: run.listed,
        last_run_new: run.fresh,
        last_success_at: run.finishedAt,
      });
      if (run.watermark) {
        // Never backwards: a long run that started before a shorter one finished must not undo it.
        await dataSource.query('UPDATE stripe_sync_state SET watermark_at = GREATEST(COALESCE(watermark_at, ?), ?) WHERE account_scope = ? AND gateway = ?', [
          run.watermark,
          run.watermark,
          accountScope(accountId),
          gateway,
        ]);
      }
    },

    runFailed: (accountId: string | null, run: { finishedAt: Date; listed: number; fresh: number; error: string }) =>
      upsert(accountId, {
        last_run_finished_at: run.finishedAt,
        last_run_outcome: 'failed',
        last_run_error: run.error.slice(0, 2000),
        last_run_listed: run.listed,
        last_run_new: run.fresh,
      }),

    /** Counted page by page, as they are stored: a run that fails half-way still counts what it recovered. */
    async addRecovered(accountId: string | null, count: number): Promise<void> {
      if (count <= 0) return;
      await dataSource.query(
        `INSERT INTO stripe_sync_state (account_scope, gateway, account_id, recovered_total) VALUES (?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE recovered_total = recovered_total + VALUES(recovered_total)`,
        [accountScope(accountId), gateway, accountId, count],
      );
    },

    recordEndpointHealth: (accountId: string, health: { endpointId: string; stripeStatus: string | null; problems: EndpointProblem[]; checkedAt: Date }) =>
      upsert(accountId, {
        endpoint_id: health.endpointId,
        endpoint_stripe_status: health.stripeStatus,
        endpoint_problems: JSON.stringify(health.problems),
        endpoint_checked_at: health.checkedAt,
      }),

    /**
     * Every account catch-up can list this gateway's events for. Stripe: null (the default account)
     * when STRIPE_SECRET_KEY is set, and each connected merchant. PayPal: each account with a PayPal
     * connection (there is no default PayPal account).
     */
    async accountsWithKey(defaultKeySet: boolean): Promise<(string | null)[]> {
      if (gateway === 'paypal') {
        const rows = (await dataSource.query('SELECT account_id FROM paypal_connections ORDER BY account_id')) as { account_id: string }[];
        return rows.map((row) => row.account_id);
      }
      const rows = (await dataSource.query('SELECT account_id FROM stripe_connections ORDER BY account_id')) as { account_id: string }[];
      return [...(defaultKeySet ? [null] : []), ...rows.map((row) => row.account_id)];
    },

    /**
     * The rows of accounts that still have an API key (a connection; the default account's row while
     * STRIPE_SECRET_KEY is set): what /metrics and the ops status show. A disconnected account's row
     * stays (its watermark is kept for a reconnect) but is not shown.
     */
    async listActive(defaultKeySet: boolean): Promise<(SyncStateRow & { connection_endpoint_id: string | null })[]> {
      if (gateway === 'paypal') {
        return (await dataSource.query(
          `SELECT s.*, c.webhook_id AS connection_endpoint_id
             FROM stripe_sync_state s JOIN paypal_connections c ON c.account_id = s.account_id
            WHERE s.gateway = 'paypal'
            ORDER BY s.account_scope`,
        )) as (SyncStateRow & { connection_endpoint_id: string | null })[];
      }
      return (await dataSource.query(
        `SELECT s.*, c.webhook_endpoint_id AS connection_endpoint_id
           FROM stripe_sync_state s LEFT JOIN stripe_connections c ON c.account_id = s.account_id
          WHERE s.gateway = 'stripe' AND ((s.account_scope = '' AND ?) OR c.account_id IS NOT NULL)
          ORDER BY s.account_scope`,
        [defaultKeySet],
      )) as (SyncStateRow & { connection_endpoint_id: string | null })[];
    },
  };
}

export type SyncState = ReturnType<typeof createSyncState>;
