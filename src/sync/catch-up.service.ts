import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import type { Ingestor, IncomingEvent } from '../events/ingest.js';
import { parseEventEnvelope } from '../events/stripe-event-envelope.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import { createStripeClient, type StripeClientOptions } from '../stripe/stripe-client.js';
import { createRequestPacer, createThrottledHttpClient, type RequestPacer } from '../stripe/throttled-http-client.js';
import { accountScope } from '../shared/account-scope.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createPageStore, recordedRun } from './catch-up-run.js';
import { withRunLock } from './run-lock.js';
import type { SyncGateway, SyncState } from './sync-state.js';

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
  /** Whose events were listed. */
  gateway: SyncGateway;
  since: string;
  until: string;
  /** Events the gateway listed (PayPal's: of the handled types). */
  listed: number;
  /** Listed events the inbox did not have: stored and queued now (deliveries that never came). */
  new: number;
  /** Listed events the inbox already had. */
  alreadyHad: number;
  /** Listed objects that are not events this service can store (none in practice; logged). */
  invalid: number;
  /** Requests sent to the gateway (pages, retries included). */
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

export type CatchUpOutcome = ({ ran: true } & CatchUpSummary) | { ran: false; accountId: string | null; gateway: SyncGateway; reason: 'already_running' };

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
    const pages = createPageStore(deps, request, progress, stats);

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
            await pages.flush(page);
            page = [];
          }
        }
      }
      if (page.length > 0) await pages.flush(page);
    };
    try {
      await listPages();
    } catch (error) {
      await pages.settle();
      throw error;
    }
    await pages.done();
    Object.assign(progress, { requests: stats.requests, rateLimited: stats.rateLimited });
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
      const locked = await withRunLock(deps.dataSource, `catch-up:${accountScope(request.accountId)}`, waitS, () =>
        recordedRun({ syncState: deps.syncState, logger: deps.logger, now }, request, (window, progress) => listInto(request, key, window, progress)),
      );
      if (!locked.ran) {
        deps.logger.info('catch-up skipped: another run of this account is under way', { accountId: request.accountId, trigger: request.trigger });
        return { ran: false, accountId: request.accountId, gateway: 'stripe', reason: 'already_running' };
      }
      return { ran: true, ...locked.value };
    },
  };
}

export type CatchUp = ReturnType<typeof createCatchUp>;
