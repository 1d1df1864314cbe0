import type { DataSource } from 'typeorm';
import type Stripe from 'stripe';
import { StripeEventEntity, type EventStatus, type StripeEventRecord } from './stripe-event.entity';
import type { EventHandler, HandlerRegistry } from './handler-registry';
import { describeError } from '../shared/errors';
import { recordAttempt } from './event-attempts';
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

const DEADLOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const isDeadlock = (error: unknown) =>
  DEADLOCK_CODES.has((error as { driverError?: { code?: string } })?.driverError?.code ?? '');

/**
 * Runs one stored event through its handler. The handler's effects and the
 * event's new status commit in one transaction. Errors are recorded and
 * rethrown so BullMQ retries; only the last try marks the event `failed`.
 */
export interface ProcessorDeps {
  dataSource: DataSource;
  registry: HandlerRegistry;
  logger: Logger;
  /** The mode the account's key is in (true = live); null when no key fixes one. */
  expectedLivemode?: (accountId: string | null) => Promise<boolean | null>;
  /** Counts a test event sent to a live connection (or the reverse) where the merchant will see it. */
  recordLivemodeMismatch?: (accountId: string | null) => Promise<void>;
}

export function createEventProcessor(deps: ProcessorDeps) {
  const events = deps.dataSource.getRepository(StripeEventEntity);

  /**
   * READ COMMITTED: once a handler holds its payment and invoice locks, its reads
   * must see every fact committed before it got them, not a snapshot from before it waited.
   */
  const runHandler = (record: StripeEventRecord, handler: EventHandler, startedAt: Date) =>
    deps.dataSource.transaction('READ COMMITTED', async (manager) => {
      const event = JSON.parse(record.payload) as Stripe.Event;
      const outcome = await handler({ event, accountId: record.accountId, manager, logger: deps.logger });
      const status: EventStatus = outcome?.ignored ? 'ignored' : 'processed';
      const reason = outcome?.ignored ?? null;
      await manager.getRepository(StripeEventEntity).update(record.id, {
        status,
        reason,
        attempts: () => 'attempts + 1',
        lastError: null,
        processedAt: new Date(),
      });
      await recordAttempt(manager, { eventId: record.id, attempt: record.attempts + 1, startedAt, outcome: status, reason });
      return { status, reason };
    });

  /** A deadlock is two workers on one invoice, not a fault: run again at once instead of waiting a backoff. */
  async function runWithDeadlockRetry(record: StripeEventRecord, handler: EventHandler, startedAt: Date): Promise<ProcessResult> {
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
    const record = await events.findOneBy({ id: eventId });
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
      await events.update(eventId, {
        status: 'ignored',
        reason: 'livemode_mismatch',
        attempts: () => 'attempts + 1',
        lastError: null,
        processedAt: new Date(),
      });
      await recordAttempt(deps.dataSource, { eventId, attempt: record.attempts + 1, startedAt, outcome: 'ignored', reason: 'livemode_mismatch' });
      return { status: 'ignored', reason: 'livemode_mismatch' };
    }

    const handler = deps.registry[record.type];
    if (!handler) {
      // Stripe retries non-2xx for days, and a queue retry cannot grow a handler: record and move on.
      await events.update(eventId, {
        status: 'ignored',
        reason: 'unhandled_type',
        attempts: () => 'attempts + 1',
        lastError: null,
        processedAt: new Date(),
      });
      await recordAttempt(deps.dataSource, { eventId, attempt: record.attempts + 1, startedAt, outcome: 'ignored', reason: 'unhandled_type' });
      return { status: 'ignored', reason: 'unhandled_type' };
    }

    try {
      return await runWithDeadlockRetry(record, handler, startedAt);
    } catch (error) {
      const final = attempt.number >= attempt.max;
      await events.update(eventId, {
        status: final ? 'failed' : 'received',
        attempts: () => 'attempts + 1',
        lastError: describeError(error).slice(0, 4000),
      });
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
