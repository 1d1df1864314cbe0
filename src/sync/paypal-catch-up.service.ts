import type { DataSource } from 'typeorm';
import type { Ingestor, IncomingEvent } from '../events/ingest.js';
import { isPaypalEventType } from '../paypal/event-types.js';
import { PAYPAL_API_HOSTS, PaypalApiError, paypalRequest, requestAccessToken, type PaypalApiOptions, type PaypalCredentials, type PaypalMode } from '../paypal/paypal-client.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import { parsePaypalEnvelope } from '../paypal/paypal-event-envelope.js';
import type { PaypalWebhookEvent } from '../paypal/verify-signature.js';
import { createRequestPacer, type RequestPacer } from '../stripe/throttled-http-client.js';
import { AppError, describeError, echo } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createPageStore, recordedRun } from './catch-up-run.js';
import type { CatchUpOutcome, CatchUpProgress, CatchUpRequest } from './catch-up.service.js';
import { withRunLock } from './run-lock.js';
import type { SyncState } from './sync-state.js';

/**
 * Event notifications per page. PayPal's reference gives the default (10) and no maximum; 100
 * keeps a run's requests few without betting on an undocumented limit.
 */
export const PAYPAL_PAGE_SIZE = 100;
/** A listing longer than this is cut off (recorded failed, the watermark kept): 500,000 events, or a `next` link going round. */
export const MAX_PAYPAL_PAGES = 5000;
const LIST_PATH = '/v1/notifications/webhooks-events';
/** Tries of one page when PayPal answers 5xx or not at all; 429s are waited out apart from these. */
const MAX_UNREACHABLE_TRIES = 4;
const MAX_RATE_LIMIT_RETRIES = 8;
const MAX_BACKOFF_MS = 32_000;
const WAIT_FOR_RUNNING_S = 15 * 60;
const PAGE_TIMEOUT_MS = 30_000;

/** PayPal's own API origins for a mode: where a `next` link may point (api-m and the older api host). */
const PAYPAL_ORIGINS: Record<PaypalMode, string[]> = {
  live: [PAYPAL_API_HOSTS.live, 'https://api.paypal.com'],
  sandbox: [PAYPAL_API_HOSTS.sandbox, 'https://api.sandbox.paypal.com'],
};

export interface PaypalCatchUpDeps {
  dataSource: DataSource;
  ingestor: Ingestor;
  paypalConnections: Pick<PaypalConnectionService, 'credentials'>;
  /** The sync state of gateway 'paypal'. */
  syncState: SyncState;
  logger: Logger;
  /** PAYPAL_API_BASE. */
  api: PaypalApiOptions;
  /** CATCH_UP_MAX_RPS. */
  maxRps: number;
  now?: () => Date;
  /** The first wait after a 429 or an unanswered page (tests shorten it). */
  backoffMs?: number;
}

interface EventPage {
  events?: unknown[];
  links?: { href?: unknown; rel?: unknown }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const paypalNotConnected = (accountId: string | null) =>
  new AppError(
    409,
    'paypal_not_connected',
    accountId === null
      ? 'The default account has no PayPal connection (PayPal is connected per merchant account): name one with accountId, e.g. "ma_…".'
      : `Account ${echo(accountId)} has not connected PayPal, so there are no PayPal events to list: connect it first (PUT /api/accounts/${echo(accountId)}/paypal).`,
  );

/**
 * PayPal's catch-up: lists the account's event notifications from PayPal (GET
 * /v1/notifications/webhooks-events, by create_time within the window, following PayPal's `next`
 * links) with a token of the account's own app, and puts each of the handled types into the inbox
 * through the path a delivery takes (Ingestor, source catch_up): deduplicated by (event id, account
 * scope) with the deliveries, queued, processed by the same workers. Ours because the account's
 * credentials fetched it from PayPal over TLS: no signature to check, as Stripe's catch-up. Other
 * types PayPal lists are left out (not counted). One page is stored while the next is fetched.
 */
export function createPaypalCatchUp(deps: PaypalCatchUpDeps) {
  const now = deps.now ?? (() => new Date());
  const baseBackoffMs = deps.backoffMs ?? 1000;
  const pacers = new Map<string, RequestPacer>();
  const pacerFor = (accountId: string) => {
    let pacer = pacers.get(accountId);
    if (!pacer) pacers.set(accountId, (pacer = createRequestPacer(deps.maxRps)));
    return pacer;
  };

  /**
   * The path and query of a `next` link, to be asked of PayPal's API base (PAYPAL_API_BASE in
   * tests). Only PayPal's own hosts for the connection's mode (or the configured base) and only
   * this listing: a link elsewhere is refused, never followed with the account's token.
   */
  function nextPath(href: unknown, mode: PaypalMode): string {
    let url: URL;
    try {
      url = new URL(String(href));
    } catch {
      throw new AppError(502, 'paypal_invalid_response', `PayPal's next link "${echo(String(href))}" is not a URL: the listing stopped there; the next run lists the window again.`);
    }
    const allowed = [...PAYPAL_ORIGINS[mode], ...(deps.api.apiBase ? [new URL(deps.api.apiBase).origin] : [])];
    if (!allowed.includes(url.origin) || url.pathname !== LIST_PATH) {
      throw new AppError(
        502,
        'paypal_invalid_response',
        `PayPal's next link points to ${echo(url.origin + url.pathname)}, not to PayPal's ${mode} API listing: refused (the account's token goes to PayPal only). The events listed before it are stored; the next run lists the window again.`,
      );
    }
    return `${url.pathname}${url.search}`;
  }

  async function listInto(request: CatchUpRequest, accountId: string, connection: PaypalCredentials & { mode: PaypalMode }, window: { since: Date; until: Date }, progress: CatchUpProgress): Promise<void> {
    const stats = { requests: 0, rateLimited: 0 };
    const pacer = pacerFor(accountId);
    const api = { ...deps.api, timeoutMs: PAGE_TIMEOUT_MS };
    const live = connection.mode === 'live';
    const pages = createPageStore(deps, request, progress, stats);

    const backoff = (inARow: number) => Math.min(baseBackoffMs * 2 ** inARow, MAX_BACKOFF_MS) * (0.5 + Math.random() / 2);
    /** A call to PayPal, paced; 429s waited out, 5xx and no answer tried again a few times. */
    async function call<T>(what: string, send: () => Promise<T>): Promise<T> {
      for (let limited = 0, unreachable = 0; ; ) {
        await pacer.take();
        stats.requests += 1;
        try {
          return await send();
        } catch (error) {
          if (!(error instanceof PaypalApiError)) throw error;
          if (error.status === 429 && limited < MAX_RATE_LIMIT_RETRIES) {
            stats.rateLimited += 1;
            await sleep(backoff(limited++));
          } else if (error.unreachable && unreachable < MAX_UNREACHABLE_TRIES - 1) {
            await sleep(backoff(unreachable++));
          } else {
            throw new AppError(
              502,
              error.unreachable ? 'paypal_unreachable' : 'paypal_error',
              `PayPal answered ${what} with ${error.status ?? 'no answer'} ${error.paypalName}: ${error.message}. What was listed before is stored; the next run lists the window again.`,
            );
          }
        }
        request.signal?.throwIfAborted();
      }
    }

    let token = (await call('the token request (check the connection: GET /api/accounts/:id/paypal)', () => requestAccessToken(connection, connection.mode, api))).accessToken;
    const fetchPage = async (path: string) =>
      call('the listing of event notifications', async () => {
        try {
          return await paypalRequest<EventPage>(connection.mode, token, 'GET', path, undefined, api);
        } catch (error) {
          // A token that expired mid-listing (they last hours): one new one, then the page again.
          if (!(error instanceof PaypalApiError && error.status === 401)) throw error;
          token = (await requestAccessToken(connection, connection.mode, api)).accessToken;
          return paypalRequest<EventPage>(connection.mode, token, 'GET', path, undefined, api);
        }
      });

    const toIncoming = (event: unknown): IncomingEvent | null => {
      const type = (event as { event_type?: unknown } | null)?.event_type;
      if (typeof type === 'string' && !isPaypalEventType(type)) return null; // not one of ours: left out
      progress.listed += 1;
      try {
        if (!event || typeof event !== 'object' || typeof (event as { id?: unknown }).id !== 'string' || typeof type !== 'string') {
          throw new Error('not a PayPal event notification (no id or event_type)');
        }
        const envelope = parsePaypalEnvelope(event as PaypalWebhookEvent, live);
        return { ...envelope, accountId, payload: JSON.stringify(event), source: 'catch_up' };
      } catch (error) {
        progress.invalid += 1;
        deps.logger.warn('catch-up skipped a listed object that is not a storable event', {
          accountId,
          gateway: 'paypal',
          id: (event as { id?: unknown } | null)?.id,
          error: describeError(error),
        });
        return null;
      }
    };

    const listPages = async () => {
      const query = new URLSearchParams({
        page_size: String(PAYPAL_PAGE_SIZE),
        start_time: window.since.toISOString(),
        end_time: window.until.toISOString(),
      });
      let path = `${LIST_PATH}?${query}`;
      const asked = new Set<string>([path]);
      for (let pageNumber = 1; ; pageNumber += 1) {
        const answer = await fetchPage(path);
        const listed = Array.isArray(answer?.events) ? answer.events : [];
        const page = listed.map(toIncoming).filter((event): event is IncomingEvent => event !== null);
        if (page.length > 0) await pages.flush(page);
        const next = (Array.isArray(answer?.links) ? answer.links : []).find((link) => link?.rel === 'next')?.href;
        if (next === undefined || listed.length === 0) return;
        path = nextPath(next, connection.mode);
        if (asked.has(path)) throw new AppError(502, 'paypal_invalid_response', 'PayPal\'s next link leads back to a page already listed: the listing stopped there; the next run lists the window again.');
        if (pageNumber >= MAX_PAYPAL_PAGES) {
          throw new AppError(502, 'paypal_listing_too_long', `PayPal's listing goes on past ${MAX_PAYPAL_PAGES} pages: what was listed is stored; run a shorter window (since/until) to list the rest.`);
        }
        asked.add(path);
      }
    };
    try {
      await listPages();
    } catch (error) {
      await pages.settle();
      throw error;
    } finally {
      Object.assign(progress, { requests: stats.requests, rateLimited: stats.rateLimited });
    }
    await pages.done();
  }

  return {
    /**
     * Catches one account's PayPal events up. Throws 409 paypal_not_connected for an account without
     * a PayPal connection, 400 invalid_since for a window PayPal cannot list, and whatever PayPal or
     * the database threw (the run is then recorded failed; what it stored stays stored).
     */
    async run(request: CatchUpRequest): Promise<CatchUpOutcome> {
      const accountId = request.accountId;
      if (accountId === null) throw paypalNotConnected(null);
      const connection = await deps.paypalConnections.credentials(accountId);
      if (!connection) throw paypalNotConnected(accountId);
      const waitS = request.ifBusy === 'wait' ? WAIT_FOR_RUNNING_S : 0;
      const locked = await withRunLock(deps.dataSource, `catch-up:paypal:${accountId}`, waitS, () =>
        recordedRun({ syncState: deps.syncState, logger: deps.logger, now }, request, (window, progress) => listInto(request, accountId, connection, window, progress)),
      );
      if (!locked.ran) {
        deps.logger.info('catch-up skipped: another run of this account is under way', { accountId, gateway: 'paypal', trigger: request.trigger });
        return { ran: false, accountId, gateway: 'paypal', reason: 'already_running' };
      }
      return { ran: true, ...locked.value };
    },
  };
}

export type PaypalCatchUp = ReturnType<typeof createPaypalCatchUp>;
