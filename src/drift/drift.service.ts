import type { DataSource } from 'typeorm';
import type { AccountService } from '../accounts/account.service.js';
import type { AuditActor, AuditLog } from '../ops/audit-log.js';
import { accountInScope, accountLabel, type AccountChoice } from '../ops/event-copies.js';
import { accountScope } from '../shared/account-scope.js';
import { AppError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createStripeClient, type StripeClientOptions } from '../stripe/stripe-client.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { createRequestPacer, createThrottledHttpClient } from '../stripe/throttled-http-client.js';
import type { CatchUp } from '../sync/catch-up.service.js';
import { STRIPE_EVENT_RETENTION_MS } from '../sync/catch-up-window.js';
import { runDriftCheck, type Difference, type DriftCheckResult, type Tally } from './drift-check.js';
import { DRIFT_OBJECTS, DRIFT_SPECS, type DriftObject } from './drift-objects.js';
import { parseDriftQuery, type DriftQuery } from './drift.schema.js';

/** The report lists at most this many differences; `totals` counts them all. */
export const MAX_DIFFERENCES = 10_000;
/** Payment intents the listing lacked that are looked up one by one (see drift-check.ts). */
const MAX_LOOKUPS = 100;
/** stripe-node's own retries of a request (connection errors, 409, 5xx); 429s are waited out by the paced client. */
const MAX_NETWORK_RETRIES = 4;
/** A repair waits this long for the events its catch-up stored to be processed, checking this often. */
const SETTLE_TIMEOUT_MS = 60_000;
const SETTLE_POLL_MS = 250;

/** The report's names for the object kinds (camelCase plurals, as JSON fields are). */
const PLURAL: Record<DriftObject, string> = {
  payment_intent: 'paymentIntents',
  charge: 'charges',
  refund: 'refunds',
  dispute: 'disputes',
  payout: 'payouts',
};

/**
 * The subscribed event types that tell of each object kind: what a repair's catch-up lists for the
 * kinds that differ. A charge's refunds change its amount_refunded; a PaymentIntent's invoice
 * may come from its Checkout Session.
 */
const TELLS_OF: Record<DriftObject, (type: string) => boolean> = {
  payment_intent: (type) => type.startsWith('payment_intent.') || type === 'checkout.session.completed',
  charge: (type) => type.startsWith('charge.') && !type.startsWith('charge.dispute.'),
  refund: (type) => type.startsWith('refund.') || type.startsWith('charge.refund'),
  dispute: (type) => type.startsWith('charge.dispute.'),
  payout: (type) => type.startsWith('payout.'),
};

export interface DriftReport {
  account: string;
  from: string;
  to: string;
  checked: Record<string, number>;
  totals: Record<string, Tally>;
  differences: Difference[];
  truncated: boolean;
  notes: string[];
  /** Requests sent to Stripe, retries included. */
  apiCalls: number;
  durationMs: number;
}

export interface DriftServiceDeps {
  dataSource: DataSource;
  accounts: AccountService;
  stripeClients: StripeClients;
  audit: AuditLog;
  logger: Logger;
  /** STRIPE_API_BASE. */
  stripe: StripeClientOptions;
  /** CATCH_UP_MAX_RPS: a check paces its requests as a catch-up does. */
  maxRps: number;
  /** The catch-up runner (src/sync/catch-up.service.ts) a repair calls. */
  catchUp: Pick<CatchUp, 'run'>;
  subscribedTypes: readonly string[];
  now?: () => Date;
  settleTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The drift check: does what the service holds for an account (payments, captured and refunded
 * amounts, refunds, disputes, payouts) match what Stripe says, for the objects Stripe created in a
 * range? And the repair: a catch-up of the events of the kinds that differ, then the check again.
 */
export function createDriftService(deps: DriftServiceDeps) {
  const now = deps.now ?? (() => new Date());

  const accountFor = (choice: AccountChoice, onlyAccount?: string) => accountInScope(choice, onlyAccount, deps.accounts);

  async function compareWithStripe(query: DriftQuery, accountId: string | null): Promise<DriftReport> {
    const startedAt = Date.now();
    const key = await deps.stripeClients.apiKey(accountId);
    const { client: httpClient, stats } = createThrottledHttpClient({ pacer: createRequestPacer(deps.maxRps) });
    const stripe = createStripeClient(key, { ...deps.stripe, maxNetworkRetries: MAX_NETWORK_RETRIES, timeoutMs: 30_000, httpClient });
    let result: DriftCheckResult;
    try {
      result = await runDriftCheck({
        db: deps.dataSource,
        stripe,
        accountId,
        fromS: Math.floor(query.from.getTime() / 1000),
        toS: Math.floor(query.to.getTime() / 1000),
        specs: DRIFT_SPECS,
        maxDifferences: MAX_DIFFERENCES,
        maxLookups: MAX_LOOKUPS,
      });
    } catch (error) {
      throw stripeFailure(error, accountId);
    }
    const byPlural = <T>(values: Record<DriftObject, T>) => Object.fromEntries(DRIFT_OBJECTS.map((o) => [PLURAL[o], values[o]]));
    const report: DriftReport = {
      account: accountLabel(accountId),
      from: query.from.toISOString(),
      to: query.to.toISOString(),
      checked: byPlural(result.checked),
      totals: byPlural(result.totals),
      differences: result.differences,
      truncated: result.truncated,
      notes: result.notes,
      apiCalls: stats.requests,
      durationMs: Date.now() - startedAt,
    };
    deps.logger.info('drift check done', {
      accountId,
      from: report.from,
      to: report.to,
      differences: countAll(result.totals),
      apiCalls: report.apiCalls,
      durationMs: report.durationMs,
    });
    return report;
  }

  /** Waits until no event the catch-up stored since `since` (DB time) is still waiting to be processed; the number still waiting. */
  async function settle(accountId: string | null, since: Date): Promise<number> {
    const deadline = Date.now() + (deps.settleTimeoutMs ?? SETTLE_TIMEOUT_MS);
    for (;;) {
      const [{ n }] = (await deps.dataSource.query(
        "SELECT COUNT(*) AS n FROM stripe_events WHERE status = 'received' AND received_at >= ? AND account_scope = ? AND source = 'catch_up'",
        [since, accountScope(accountId)],
      )) as [{ n: number | string }];
      if (Number(n) === 0 || Date.now() >= deadline) return Number(n);
      await sleep(SETTLE_POLL_MS);
    }
  }

  return {
    /** GET /api/ops/drift: a read, not audited (as the other ops reads). */
    async check(input: unknown, onlyAccount?: string): Promise<DriftReport & { format: 'json' | 'csv' }> {
      const query = parseDriftQuery(input, now());
      const report = await compareWithStripe(query, await accountFor(query.account, onlyAccount));
      return { ...report, format: query.format };
    },

    /**
     * POST /api/ops/drift/repair {accountId, from, to}: the check; when something differs, a
     * catch-up of the account's events of the kinds that differ, from `from` (events about an
     * object are never older than it) up to now, within the 30 days Stripe keeps them; once
     * the events it stored are processed, the check again. Audited.
     */
    async repair(input: unknown, actor: AuditActor, onlyAccount?: string) {
      const query = parseDriftQuery({ ...(input && typeof input === 'object' ? input : {}), format: undefined }, now());
      const accountId = await accountFor(query.account, onlyAccount);
      const before = await compareWithStripe(query, accountId);
      const auditId = await deps.audit.record({
        actor,
        action: 'drift.repair',
        target: accountLabel(accountId),
        count: countAll(before.totals),
        details: { from: before.from, to: before.to, differencesBefore: countAll(before.totals), state: 'running' },
      });
      // Events can bring what the service lacks or holds out of date; they cannot take away what Stripe does not have.
      const kinds = DRIFT_OBJECTS.filter((o) => before.totals[PLURAL[o]]!.missing_in_service + before.totals[PLURAL[o]]!.different > 0);
      const atStripeOnly = DRIFT_OBJECTS.reduce((sum, o) => sum + before.totals[PLURAL[o]]!.missing_at_stripe, 0);
      let catchUp: Record<string, unknown> | null = null;
      let after = before;
      let pending = 0;
      const notes: string[] = [];
      try {
        if (kinds.length > 0) {
          const types = deps.subscribedTypes.filter((type) => kinds.some((kind) => TELLS_OF[kind](type)));
          const until = now();
          // Stripe lists events of the last 30 days only (a minute's margin: the catch-up refuses older).
          const oldest = new Date(until.getTime() - STRIPE_EVENT_RETENTION_MS + 60_000);
          const since = query.from < oldest ? oldest : query.from;
          if (since > query.from) notes.push(`Objects created before ${since.toISOString()} cannot be repaired from events: Stripe keeps events for 30 days.`);
          const [{ dbNow }] = (await deps.dataSource.query('SELECT NOW(3) AS dbNow')) as [{ dbNow: Date }];
          const outcome = await deps.catchUp.run({ accountId, since, until, types, trigger: 'drift', ifBusy: 'wait' });
          if (!outcome.ran) throw new AppError(409, 'catch_up_busy', 'A catch-up of this account is already running: try the repair again once it has finished.');
          catchUp = {
            since: outcome.since,
            until: outcome.until,
            types,
            listed: outcome.listed,
            new: outcome.new,
            alreadyHad: outcome.alreadyHad,
            apiCalls: outcome.requests,
          };
          pending = await settle(accountId, dbNow);
          if (pending > 0) notes.push(`${pending} event(s) the catch-up stored were not processed yet after ${(deps.settleTimeoutMs ?? SETTLE_TIMEOUT_MS) / 1000} s (are the workers running?): check again later.`);
          after = await compareWithStripe(query, accountId);
        }
      } catch (error) {
        await deps.audit.complete(auditId, countAll(before.totals), { from: before.from, to: before.to, state: 'failed', error: describeError(error) }).catch(() => undefined);
        throw error;
      }
      if (atStripeOnly > 0) {
        notes.push(
          `${atStripeOnly} object(s) the service holds are missing at Stripe: no event can take them away. Find the events that recorded them (billed-ops events list -q <id>): another account's object, or a test-mode event in live books.`,
        );
      }
      const stillDifferent = countAll(after.totals);
      await deps.audit.complete(auditId, countAll(before.totals), {
        from: before.from,
        to: before.to,
        state: 'done',
        differencesBefore: countAll(before.totals),
        differencesAfter: stillDifferent,
        catchUp,
      });
      return {
        account: before.account,
        from: before.from,
        to: before.to,
        before: { totals: before.totals, differences: countAll(before.totals), apiCalls: before.apiCalls },
        catchUp,
        pending,
        after: { ...after, notes: [...notes, ...after.notes] },
        stillDifferent,
        apiCalls: before.apiCalls + Number(catchUp?.apiCalls ?? 0) + (after === before ? 0 : after.apiCalls),
        auditId,
      };
    },
  };
}

export type DriftService = ReturnType<typeof createDriftService>;

function countAll(totals: Record<string, Tally>): number {
  return Object.values(totals).reduce((sum, tally) => sum + Object.values(tally).reduce((a, b) => a + b, 0), 0);
}

/** Stripe's refusal of the key (revoked, rolled) or its absence says what to do; anything else is a 502 naming Stripe. */
function stripeFailure(error: unknown, accountId: string | null): unknown {
  if (error instanceof AppError) return error;
  const stripeError = error as { type?: string; statusCode?: number; message?: string };
  if (typeof stripeError.type === 'string' && stripeError.type.startsWith('Stripe')) {
    const whose = accountId === null ? 'STRIPE_SECRET_KEY' : `account ${accountId}'s key (PUT /api/accounts/${accountId}/stripe)`;
    if (stripeError.statusCode === 401 || stripeError.statusCode === 403) {
      return new AppError(502, 'stripe_key_refused', `Stripe refused ${whose}: it was revoked, rolled or lacks read access to these objects. Put a working key, then check again.`);
    }
    return new AppError(502, 'stripe_unreachable', `Stripe could not be read (${stripeError.message ?? stripeError.type}): nothing was compared. Try again later.`);
  }
  return error;
}
