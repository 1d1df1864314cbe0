import type { DataSource } from 'typeorm';
import type Stripe from 'stripe';
import type { EventStatus, StripeEventRecord } from './stripe-event.entity';
import type { EventHandler, HandlerRegistry } from './handler-registry';
import { describeError } from '../shared/errors';
import { attemptInsert, recordAttempt } from './event-attempts';
import { foldedTransaction } from '../db/folded-transaction';
import type { Logger } from '../shared/logger';

export interface Attempt {
  /** 1-based number of this try. */
  number: number;
  /** Tries allowed in all; the last failing one marks the event `failed`. */
  max: number;
}

export interface ProcessResult {
  status: EventStatus;
  reason?: string | null;
  /** True when the event was already settled and nothing ran. */
  alreadySettled?: boolean;
}

/** Thrown when a job names an event that is not in the inbox: retrying cannot help. */
export class EventNotStoredError extends Error {
  constructor(eventId: string) {
    super(`event ${eventId} is not in the inbox`);
    this.name = 'EventNotStoredError';
  }
}

/** Another run settled the event while this one waited: this run records nothing and reports it settled. */
class SettledMeanwhile extends Error {}

const DEADLOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const isDeadlock = (error: unknown) =>
  DEADLOCK_CODES.has((error as { driverError?: { code?: string } })?.driverError?.code ?? '');

/** The columns processing needs. */
type LoadedEvent = Pick<StripeEventRecord, 'id' | 'accountId' | 'type' | 'livemode' | 'payload' | 'status' | 'reason' | 'attempts'>;

export interface ProcessorDeps {
  dataSource: DataSource;
  registry: HandlerRegistry;
  logger: Logger;
  /** The mode the account's key is in (true = live); null when no key fixes one. */
  expectedLivemode?: (accountId: string | null) => Promise<boolean | null>;
  /** Counts a test event sent to a live connection (or the reverse) where the merchant will see it. */
  recordLivemodeMismatch?: (accountId: string | null) => Promise<void>;
}

/**
 * Runs one stored event through its handler. The handler's effects and the
 * event's new status commit in one transaction. Errors are recorded and
 * rethrown so BullMQ retries; only the last try marks the event `failed`.
 */
export function createEventProcessor(deps: ProcessorDeps) {
  /** The hot path reads the row with plain SQL: the ORM's query building costs more than the query. */
  async function loadEvent(eventId: string): Promise<LoadedEvent | undefined> {
    const [row] = (await deps.dataSource.query(
      'SELECT id, account_id, type, livemode, payload, status, reason, attempts FROM stripe_events WHERE id = ?',
      [eventId],
    )) as { id: string; account_id: string | null; type: string; livemode: number; payload: string; status: EventStatus; reason: string | null; attempts: number }[];
    if (!row) return undefined;
    const { account_id: accountId, livemode, ...rest } = row;
    return { ...rest, accountId, livemode: Boolean(livemode) };
  }

  /** Every connection is READ COMMITTED (see db/data-source.ts): handlers rely on it after taking their locks. */
  const runHandler = (record: LoadedEvent, handler: EventHandler, startedAt: Date) =>
    foldedTransaction(deps.dataSource, async (manager) => {
      const event = JSON.parse(record.payload) as Stripe.Event;
      const deferred: { sql: string; params: unknown[] }[] = [];
      const defer = (sql: string, params: unknown[]) => void deferred.push({ sql, params });
      const outcome = await handler({ event, accountId: record.accountId, manager, logger: deps.logger, defer });
      const status: EventStatus = outcome?.ignored ? 'ignored' : 'processed';
      const reason = outcome?.ignored ?? null;
      // The handler's last writes, the event's status and its history row: one round trip.
      const statements = [
        ...deferred,
        {
          // Guarded: if another run of this event (a stalled job taken over, a replay) settled it while
          // this one waited for the locks, this run settles nothing and records no try. What its handler
          // wrote is what the first run wrote already (handlers are idempotent).
          sql: "UPDATE stripe_events SET status = ?, reason = ?, attempts = attempts + 1, last_error = NULL, processed_at = NOW(3) WHERE id = ? AND status = 'received'",
          params: [status, reason, record.id],
        },
        attemptInsert({ eventId: record.id, attempt: record.attempts + 1, startedAt, outcome: status, reason }, { onlyIfPreviousChangedRows: true }),
      ];
      return {
        final: statements,
        done: (results: unknown[]): ProcessResult => {
          const eventUpdate = results[deferred.length] as { affectedRows?: number } | undefined;
          if (eventUpdate?.affectedRows === 0) throw new SettledMeanwhile();
          return { status, reason };
        },
      };
    });

  /** Settles an event the handler never ran for; only if nothing settled it meanwhile. */
  async function settleWithoutHandler(record: LoadedEvent, reason: string, startedAt: Date): Promise<ProcessResult> {
    await deps.dataSource.query(
      "UPDATE stripe_events SET status = 'ignored', reason = ?, attempts = attempts + 1, last_error = NULL, processed_at = NOW(3) WHERE id = ? AND status = 'received'",
      [reason, record.id],
    );
    await recordAttempt(deps.dataSource, { eventId: record.id, attempt: record.attempts + 1, startedAt, outcome: 'ignored', reason });
    return { status: 'ignored', reason };
  }

  /** A deadlock is two workers on one invoice, not a fault: run again at once instead of waiting a backoff. */
  async function runWithDeadlockRetry(record: LoadedEvent, handler: EventHandler, startedAt: Date): Promise<ProcessResult> {
    for (let tries = 1; ; tries++) {
      try {
        return await runHandler(record, handler, startedAt);
      } catch (error) {
        if (!isDeadlock(error) || tries >= 5) throw error;
      }
    }
  }

  return async function processEvent(eventId: string, attempt: Attempt): Promise<ProcessResult> {
    const startedAt = new Date();
    const record = await loadEvent(eventId);
    if (!record) throw new EventNotStoredError(eventId);
    // Redelivered jobs (stalled, relayed twice) must not run a settled event again.
    if (record.status === 'processed' || record.status === 'ignored') {
      return { status: record.status, reason: record.reason, alreadySettled: true };
    }

    // A test-mode event on a live connection (or the reverse) must not touch real invoices:
    // stored, ignored, and counted on the connection so the merchant sees why payments don't appear.
    const expected = await deps.expectedLivemode?.(record.accountId);
    if (expected !== undefined && expected !== null && expected !== record.livemode) {
      // Counted before the event settles, so whoever sees the event ignored also sees it counted.
      await deps.recordLivemodeMismatch?.(record.accountId);
      return settleWithoutHandler(record, 'livemode_mismatch', startedAt);
    }

    const handler = deps.registry[record.type];
    if (!handler) {
      // Stripe retries non-2xx for days, and a queue retry cannot grow a handler: record and move on.
      return settleWithoutHandler(record, 'unhandled_type', startedAt);
    }

    try {
      return await runWithDeadlockRetry(record, handler, startedAt);
    } catch (error) {
      if (error instanceof SettledMeanwhile) {
        const [now] = (await deps.dataSource.query('SELECT status, reason FROM stripe_events WHERE id = ?', [eventId])) as { status: EventStatus; reason: string | null }[];
        return { status: now?.status ?? 'processed', reason: now?.reason ?? null, alreadySettled: true };
      }
      const final = attempt.number >= attempt.max;
      // Only a still-unsettled event: if the commit went through but its answer was lost, the
      // event is processed and must not be put back.
      await deps.dataSource.query(
        "UPDATE stripe_events SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND status = 'received'",
        [final ? 'failed' : 'received', describeError(error).slice(0, 4000), eventId],
      );
      // History is for on-call; failing to write it must not hide the handler's own error.
      await recordAttempt(deps.dataSource, { eventId, attempt: record.attempts + 1, startedAt, outcome: final ? 'failed' : 'retrying', error }).catch(
        (historyError: unknown) => deps.logger.warn('could not record the attempt', { error: describeError(historyError) }),
      );
      deps.logger.warn(final ? 'event failed; retries exhausted' : 'event handler failed; will retry', {
        type: record.type,
        attempt: attempt.number,
        maxAttempts: attempt.max,
        error: describeError(error),
      });
      throw error;
    }
  };
}

export type EventProcessor = ReturnType<typeof createEventProcessor>;
