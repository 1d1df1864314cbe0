import type { Ingestor, IncomingEvent, StoredBatch } from '../events/ingest.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { catchUpWindow } from './catch-up-window.js';
import type { CatchUpProgress, CatchUpRequest, CatchUpSummary } from './catch-up.service.js';
import type { SyncState } from './sync-state.js';

/**
 * What a catch-up does the same whatever the gateway: the window from the (account, gateway)
 * watermark, the run recorded as started, then succeeded (the watermark moved when the run covered
 * the account's window) or failed, the summary and its log line; and the listed pages stored
 * through the Ingestor one while the next is fetched. The gateway's part is the listing alone.
 */

export interface PageStore {
  /** Stores a page once the one before is stored; the listing goes on meanwhile. */
  flush(page: IncomingEvent[]): Promise<void>;
  /** The last page stored (rejects with its failure). */
  done(): Promise<void>;
  /** After a failed listing: the page being stored finishes (or fails) before the run is recorded failed. */
  settle(): Promise<void>;
}

export function createPageStore(
  deps: { ingestor: Ingestor; syncState: SyncState },
  request: CatchUpRequest,
  progress: CatchUpProgress,
  stats: { requests: number; rateLimited: number },
): PageStore {
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
  return {
    async flush(page) {
      await storing;
      storing = store(page);
      storing.catch(() => undefined); // awaited later; a rejection must not be unhandled meanwhile
    },
    done: () => storing,
    settle: () => storing.catch(() => undefined),
  };
}

export interface RecordedRunDeps {
  syncState: SyncState;
  logger: Logger;
  now: () => Date;
}

/** The listing of one gateway: fills `progress` as it lists and stores. */
export type ListInto = (window: { since: Date; until: Date }, progress: CatchUpProgress) => Promise<void>;

/** One run of one account and gateway, under its lock: recorded in the sync state from start to end. */
export async function recordedRun(deps: RecordedRunDeps, request: CatchUpRequest, listInto: ListInto): Promise<CatchUpSummary> {
  const gateway = deps.syncState.gateway;
  const startedAt = deps.now();
  const state = await deps.syncState.get(request.accountId);
  const window = catchUpWindow({
    now: startedAt,
    watermark: state?.watermark_at ?? null,
    since: request.since,
    until: request.until,
    gatewayName: gateway === 'paypal' ? 'PayPal' : 'Stripe',
  });
  const advances = window.coversAccount && request.types === undefined;
  const progress: CatchUpProgress = {
    accountId: request.accountId,
    gateway,
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
    await listInto(window, progress);
  } catch (error) {
    await deps.syncState
      .runFailed(request.accountId, { finishedAt: deps.now(), listed: progress.listed, fresh: progress.new, error: describeError(error) })
      .catch((stateError: unknown) => deps.logger.error('could not record the failed catch-up', { error: describeError(stateError) }));
    deps.logger.error('catch-up failed', { accountId: request.accountId, gateway, trigger: request.trigger, listed: progress.listed, new: progress.new, error: describeError(error) });
    throw error;
  }
  const finishedAt = deps.now();
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
  // Events no delivery brought: the gateway gave up on them, or has not retried yet. Someone should know why.
  deps.logger.log(progress.new > 0 ? 'warn' : 'info', progress.new > 0 ? 'catch-up recovered events no delivery had brought' : 'catch-up done', {
    accountId: request.accountId,
    gateway,
    trigger: request.trigger,
    listed: progress.listed,
    new: progress.new,
    alreadyHad: progress.alreadyHad,
    invalid: progress.invalid,
    requests: progress.requests,
    rateLimited: progress.rateLimited,
    durationMs,
  });
  return summary;
}
