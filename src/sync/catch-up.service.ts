import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import type { Ingestor, IncomingEvent, StoredBatch } from '../events/ingest.js';
import { parseEventEnvelope } from '../events/stripe-event-envelope.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { createStripeClient, type StripeClientOptions } from '../stripe/stripe-client.js';
import { createRequestPacer, createThrottledHttpClient, type RequestPacer } from '../stripe/throttled-http-client.js';
import { accountScope } from '../shared/account-scope.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { catchUpWindow } from './catch-up-window.js';
import { withRunLock } from './run-lock.js';
import type { SyncState } from './sync-state.js';

/** Events per page: Stripe's largest. */
export const PAGE_SIZE = 100;
/** Stripe's `types[]` filter takes at most 20 types: more are listed 20 at a time. */
const MAX_TYPES_PER_LISTING = 20;
/** stripe-node's own retries of a page (connection errors, 409, 5xx); 429s are waited out by the paced client. */
const MAX_NETWORK_RETRIES = 4;
/** An operator's run waits this long for an automatic one of the same account to finish. */
const WAIT_FOR_RUNNING_S = 15 * 60;

export type CatchUpTrigger = 'startup' | 'schedule' | 'operator' | 'drift';

export interface CatchUpRequest {
  /** null: the default account (STRIPE_SECRET_KEY). */
  accountId: string | null;
  /** Default: the account's own window (catch-up-window.ts). */
  since?: Date;
  until?: Date;
  /** Default: every subscribed type. A subset (the drift check's) never moves the watermark. */
  types?: readonly string[];
  trigger: CatchUpTrigger;
  /** `skip` (automatic runs): another run of the account under way is enough. `wait`: run after it. */
  ifBusy?: 'skip' | 'wait';
  /** Called after each stored page (and once at the start). */
  onProgress?: (progress: CatchUpProgress) => unknown;
  /** Aborted (the process is stopping): the run ends after the page it is storing, recorded failed. */
  signal?: AbortSignal;
}

export interface CatchUpProgress {
  accountId: string | null;
  since: string;
  until: string;
  /** Events Stripe listed. */
  listed: number;
  /** Listed events the inbox did not have: stored and queued now (deliveries that never came). */
  new: number;
  /** Listed events the inbox already had. */
  alreadyHad: number;
  /** Listed objects that are not events this service can store (none in practice; logged). */
  invalid: number;
  /** Requests sent to Stripe (pages, retries included). */
  requests: number;
  /** 429 answers waited out. */
  rateLimited: number;
}

export interface CatchUpSummary extends CatchUpProgress {
  trigger: CatchUpTrigger;
  startedAt: string;
  durationMs: number;
  eventsPerSecond: number;
  /** Whether this run moved the account's watermark (it covered the account's whole window). */
  advancedWatermark: boolean;
}

export type CatchUpOutcome = ({ ran: true } & CatchUpSummary) | { ran: false; accountId: string | null; reason: 'already_running' };

export interface CatchUpDeps {
  dataSource: DataSource;
  ingestor: Ingestor;
  stripeClients: StripeClients;
  syncState: SyncState;
  logger: Logger;
  /** STRIPE_API_BASE. */
  stripe: StripeClientOptions;
  /** CATCH_UP_MAX_RPS. */
  maxRps: number;
  subscribedTypes: readonly string[];
  now?: () => Date;
  /** The first wait after a 429 (tests shorten it). */
  rateLimitBackoffMs?: number;
}

const chunksOf = <T>(items: readonly T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

/**
 * Catch-up: lists the account's events from Stripe (GET /v1/events through stripe-node's
 * auto-pagination, 100 a page, only the subscribed types) and puts each one into the inbox
 * through the path a delivery takes (Ingestor: stored per account and event id, deduplicated,
 * queued, processed by the same workers). It is ours because the account's own key fetched it;
 * there is no signature to check. Pages are stored as they come, one page stored while the next
 * is fetched, so memory holds two pages at most whatever the listing's length.
 */
export function createCatchUp(deps: CatchUpDeps) {
  const now = deps.now ?? (() => new Date());
  // Per account and process; one run per account at a time (the lock), so this is the account's rate.
  const pacers = new Map<string, RequestPacer>();
  const pacerFor = (accountId: string | null) => {
    let pacer = pacers.get(accountScope(accountId));
    if (!pacer) pacers.set(accountScope(accountId), (pacer = createRequestPacer(deps.maxRps)));
    return pacer;
  };

  async function listInto(request: CatchUpRequest, key: string, window: { since: Date; until: Date }, progress: CatchUpProgress): Promise<void> {
    const { client: httpClient, stats } = createThrottledHttpClient({ pacer: pacerFor(request.accountId), backoffBaseMs: deps.rateLimitBackoffMs });
    const stripe = createStripeClient(key, { ...deps.stripe, maxNetworkRetries: MAX_NETWORK_RETRIES, timeoutMs: 30_000, httpClient });
    const created = { gte: Math.floor(window.since.getTime() / 1000), lte: Math.floor(window.until.getTime() / 1000) };

    let storing: Promise<void> = Promise.resolve();
    const store = async (page: IncomingEvent[]) => {
      const stored: StoredBatch = await deps.ingestor.storeBatch(page, { enqueueTimeoutMs: 5000 });
      progress.new += stored.fresh.length;
      progress.alreadyHad += stored.duplicates;
      Object.assign(progress, { requests: stats.requests, rateLimited: stats.rateLimited });
      await deps.syncState.addRecovered(request.accountId, stored.fresh.length);
      await request.onProgress?.({ ...progress });
      request.signal?.throwIfAborted();
    };
    // One page is stored while the next is fetched; the one before must be stored first.
    const flush = async (page: IncomingEvent[]) => {
      await storing;
      storing = store(page);
      storing.catch(() => undefined); // awaited below; a rejection must not be unhandled meanwhile
    };

    const listPages = async () => {
      let page: IncomingEvent[] = [];
      for (const types of chunksOf(request.types ?? deps.subscribedTypes, MAX_TYPES_PER_LISTING)) {
        const listing = stripe.events.list({ limit: PAGE_SIZE, types, created });
        for await (const event of listing as AsyncIterable<Stripe.Event>) {
          progress.listed += 1;
          let envelope;
          try {
            envelope = parseEventEnvelope(event);
          } catch (error) {
            progress.invalid += 1;
            deps.logger.warn('catch-up skipped a listed object that is not a storable event', {
              accountId: request.accountId,
              id: (event as { id?: unknown }).id,
              error: describeError(error),
            });
            continue;
          }
          page.push({ ...envelope, accountId: request.accountId, payload: JSON.stringify(event), source: 'catch_up' });
          if (page.length === PAGE_SIZE) {
            await flush(page);
            page = [];
          }
        }
      }
      if (page.length > 0) await flush(page);
    };
    try {
      await listPages();
    } catch (error) {
      // The page being stored finishes (or fails) before the run is recorded as failed.
      await storing.catch(() => undefined);
      throw error;
    }
    await storing;
    Object.assign(progress, { requests: stats.requests, rateLimited: stats.rateLimited });
  }

  async function runLocked(request: CatchUpRequest, key: string): Promise<CatchUpSummary> {
    const startedAt = now();
    const state = await deps.syncState.get(request.accountId);
    const window = catchUpWindow({ now: startedAt, watermark: state?.watermark_at ?? null, since: request.since, until: request.until });
    const advances = window.coversAccount && request.types === undefined;
    const progress: CatchUpProgress = {
      accountId: request.accountId,
      since: window.since.toISOString(),
      until: window.until.toISOString(),
      listed: 0,
      new: 0,
      alreadyHad: 0,
      invalid: 0,
      requests: 0,
      rateLimited: 0,
    };
    await deps.syncState.runStarted(request.accountId, request.trigger, startedAt);
    await request.onProgress?.({ ...progress });
    try {
      await listInto(request, key, window, progress);
    } catch (error) {
      await deps.syncState
        .runFailed(request.accountId, { finishedAt: now(), listed: progress.listed, fresh: progress.new, error: describeError(error) })
        .catch((stateError: unknown) => deps.logger.error('could not record the failed catch-up', { error: describeError(stateError) }));
      deps.logger.error('catch-up failed', { accountId: request.accountId, trigger: request.trigger, listed: progress.listed, new: progress.new, error: describeError(error) });
      throw error;
    }
    const finishedAt = now();
    await deps.syncState.runSucceeded(request.accountId, { finishedAt, listed: progress.listed, fresh: progress.new, watermark: advances ? startedAt : null });
    const durationMs = finishedAt.getTime() - startedAt.getTime();
    const summary: CatchUpSummary = {
      ...progress,
      trigger: request.trigger,
      startedAt: startedAt.toISOString(),
      durationMs,
      eventsPerSecond: durationMs > 0 ? Math.round((progress.listed * 1000) / durationMs) : progress.listed,
      advancedWatermark: advances,
    };
    // Events no delivery brought: Stripe gave up on them, or has not retried yet. Someone should know why.
    deps.logger.log(progress.new > 0 ? 'warn' : 'info', progress.new > 0 ? 'catch-up recovered events no delivery had brought' : 'catch-up done', {
      accountId: request.accountId,
      trigger: request.trigger,
      listed: progress.listed,
      new: progress.new,
      alreadyHad: progress.alreadyHad,
      requests: progress.requests,
      rateLimited: progress.rateLimited,
      durationMs,
    });
    return summary;
  }

  return {
    /**
     * Catches one account up. Throws 409 stripe_not_connected for an account without a key, 400
     * invalid_since for a window Stripe cannot list, and whatever Stripe or the database threw
     * (the run is then recorded failed; what it stored stays stored).
     */
    async run(request: CatchUpRequest): Promise<CatchUpOutcome> {
      const key = await deps.stripeClients.apiKey(request.accountId);
      const waitS = request.ifBusy === 'wait' ? WAIT_FOR_RUNNING_S : 0;
      const locked = await withRunLock(deps.dataSource, `catch-up:${accountScope(request.accountId)}`, waitS, () => runLocked(request, key));
      if (!locked.ran) {
        deps.logger.info('catch-up skipped: another run of this account is under way', { accountId: request.accountId, trigger: request.trigger });
        return { ran: false, accountId: request.accountId, reason: 'already_running' };
      }
      return { ran: true, ...locked.value };
    },
  };
}

export type CatchUp = ReturnType<typeof createCatchUp>;
