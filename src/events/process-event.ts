import type { DataSource } from 'typeorm';
import type Stripe from 'stripe';
import type { EventStatus, StripeEventRecord } from './stripe-event.entity.js';
import { handlerFor, type EventHandler, type EventPreparer, type HandlerRegistry } from './handler-registry.js';
import { describeError, EventRejectedError } from '../shared/errors.js';
import { attemptInsert, recordAttempt, successfulAttemptsInsert, thrownAt } from './event-attempts.js';
import { foldedTransaction, type Statement, type Tx } from '../db/folded-transaction.js';
import { currentContext, runWithContext, type LogContext } from '../shared/context.js';
import { createBatcher } from './batcher.js';
import { lockPaymentsUpFront, type PaymentLock } from '../billing/payment-ledger.js';
import type { Logger } from '../shared/logger.js';
import { accountScope } from '../shared/account-scope.js';

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

/**
 * Which stored event a job means: the inbox is keyed by (event id, account of the endpoint it came
 * in on; null: the default endpoint). `accountId` left out (a job enqueued before the inbox was keyed
 * so, or a bare id): the earliest stored copy of the id.
 */
export interface EventRef {
  eventId: string;
  accountId?: string | null;
}

const refOf = (ref: string | EventRef): EventRef => (typeof ref === 'string' ? { eventId: ref } : ref);
const describeRef = (ref: EventRef) => (ref.accountId ? `${ref.eventId} of account ${ref.accountId}` : ref.eventId);

/** Thrown when a job names an event that is not in the inbox: retrying cannot help. */
export class EventNotStoredError extends Error {
  constructor(ref: EventRef) {
    super(`event ${describeRef(ref)} is not in the inbox`);
    this.name = 'EventNotStoredError';
  }
}

/**
 * Thrown instead of recording a failed try when the event came in a batch job: the try is not
 * counted, and the batch job puts the event in a job of its own, where its tries, backoff and
 * failure are a lone event's (workers/event.worker.ts).
 */
export class HandOverError extends Error {
  constructor(override readonly cause: unknown) {
    super(`handed over to a job of its own: ${describeError(cause)}`);
    this.name = 'HandOverError';
  }
}

/** Another run settled the event while this one waited: this run records nothing and reports it settled. */
class SettledMeanwhile extends Error {}

const DEADLOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const isDeadlock = (error: unknown) =>
  DEADLOCK_CODES.has((error as { driverError?: { code?: string } })?.driverError?.code ?? '');

/** The columns processing needs. */
type LoadedEvent = Pick<StripeEventRecord, 'id' | 'gateway' | 'accountId' | 'type' | 'livemode' | 'payload' | 'status' | 'reason' | 'attempts'>;
type EventRow = Omit<LoadedEvent, 'accountId' | 'livemode'> & { account_id: string | null; livemode: number; received_at: Date };

/** Rows' keys for `(id, account_scope) IN (?)`, which MariaDB reads as ranges of the primary key. */
const keysOf = (records: Pick<LoadedEvent, 'id' | 'accountId'>[]) => records.map((record) => [record.id, accountScope(record.accountId)]);
const sameRow = (record: Pick<LoadedEvent, 'id' | 'accountId'>) => `${accountScope(record.accountId)}\u0000${record.id}`;

/**
 * Settles events: their outcome, one more try counted. Guarded: only events still `received`
 * change, so a run that another run beat to it (a stalled job taken over, a replay) settles
 * nothing, which its caller sees in affectedRows.
 */
const settleEvents = (status: 'processed' | 'ignored', reason: string | null, records: LoadedEvent[]): Statement => ({
  sql: "UPDATE stripe_events SET status = ?, reason = ?, attempts = attempts + 1, last_error = NULL, processed_at = NOW(3) WHERE (id, account_scope) IN (?) AND status = 'received'",
  params: [status, reason, keysOf(records)],
});

const affectedRows = (result: unknown) => (result as { affectedRows?: number } | undefined)?.affectedRows ?? 0;

/** The copy a job means among the rows read for its id (see EventRef). */
function pickRow(rows: EventRow[], ref: EventRef): EventRow | undefined {
  const copies = rows.filter((row) => row.id === ref.eventId);
  if (ref.accountId !== undefined) return copies.find((row) => row.account_id === ref.accountId);
  return copies.sort((a, b) => a.received_at.getTime() - b.received_at.getTime())[0];
}

export interface ProcessorDeps {
  dataSource: DataSource;
  registry: HandlerRegistry;
  logger: Logger;
  /** The mode the account's key is in (true = live); null when no key fixes one. */
  expectedLivemode?: (accountId: string | null) => Promise<boolean | null>;
  /** Counts a test event sent to a live connection (or the reverse) where the merchant will see it. */
  recordLivemodeMismatch?: (accountId: string | null) => Promise<void>;
  /** Turns an event its handler cannot read as delivered into one it can, before the transaction (handler-registry.ts). */
  prepare?: EventPreparer;
  /** Several events per transaction under load (see processBatch); absent or maxBatch 1: one each. */
  batch?: { maxBatch: number; lanes: number };
}

/**
 * Runs one stored event through its handler. The handler's effects and the
 * event's new status commit in one transaction. Errors are recorded and
 * rethrown so BullMQ retries; only the last try marks the event `failed`.
 */
export function createEventProcessor(deps: ProcessorDeps) {
  // By id (the key's first part): an id stored for several accounts is rare, and one statement serves a job with or without its account.
  const SELECT_EVENTS = 'SELECT id, gateway, account_id, type, livemode, payload, status, reason, attempts, received_at FROM stripe_events WHERE id IN (?)';
  // Field by field: a rest-and-spread copy plus two new keys cost ~2.7 µs a row in Node 20 (a new hidden class each time), this ~0.02.
  const toRecord = (row: EventRow): LoadedEvent => ({
    id: row.id,
    gateway: row.gateway,
    accountId: row.account_id,
    type: row.type,
    livemode: Boolean(row.livemode),
    payload: row.payload,
    status: row.status,
    reason: row.reason,
    attempts: row.attempts,
  });

  /** The hot path reads the row with plain SQL: the ORM's query building costs more than the query. */
  async function loadEvent(ref: EventRef): Promise<LoadedEvent | undefined> {
    const row = pickRow((await deps.dataSource.query(SELECT_EVENTS, [[ref.eventId]])) as EventRow[], ref);
    return row && toRecord(row);
  }

  /** Runs the handler inside `tx`: what the event's status becomes if the transaction commits. */
  async function runInTransaction(
    tx: Tx,
    record: LoadedEvent,
    handler: EventHandler,
    event = JSON.parse(record.payload) as Stripe.Event,
  ): Promise<{ status: 'processed' | 'ignored'; reason: string | null }> {
    const outcome = await handler({ event, accountId: record.accountId, livemode: record.livemode, manager: tx, logger: deps.logger });
    return outcome?.ignored ? { status: 'ignored', reason: outcome.ignored } : { status: 'processed', reason: null };
  }

  /** Every connection is READ COMMITTED (see db/data-source.ts): handlers rely on it after taking their locks. */
  const runHandler = (record: LoadedEvent, handler: EventHandler, startedAt: Date, event?: Stripe.Event) =>
    foldedTransaction(deps.dataSource, async (tx) => {
      const { status, reason } = await runInTransaction(tx, record, handler, event);
      // After the handler (whose locks are all taken by now), the event's status, guarded: it locks the
      // event's row, so a run of the same event elsewhere waits for this one, or this one for it. If
      // another run (a duplicate job, a stray job for an event already failed) settled it meanwhile, this
      // run changes no row and rolls back before its COMMIT is sent: its effects are not committed, even
      // where a handler is not idempotent. It rides with the invoices' facts read (a read that locks
      // nothing), so the guard costs no round trip of its own.
      tx.deferGuard(settleEvents(status, reason, [record]), (update) => {
        if (affectedRows(update) === 0) throw new SettledMeanwhile();
      });
      return {
        // The history row rides with the COMMIT.
        final: [attemptInsert({ eventId: record.id, accountId: record.accountId, attempt: record.attempts + 1, startedAt, outcome: status, reason })],
        done: (): ProcessResult => ({ status, reason }),
      };
    });

  /**
   * Settles an event the handler never ran for; only if nothing settled it meanwhile. The status
   * and the try's history commit together, so whoever sees the event settled also sees its history.
   */
  async function settleWithoutHandler(record: LoadedEvent, reason: string, startedAt: Date): Promise<ProcessResult> {
    try {
      return await foldedTransaction(deps.dataSource, async (tx) => {
        const [update] = (await tx.send([settleEvents('ignored', reason, [record])])) as { affectedRows: number }[];
        if (update?.affectedRows === 0) throw new SettledMeanwhile();
        return {
          final: [attemptInsert({ eventId: record.id, accountId: record.accountId, attempt: record.attempts + 1, startedAt, outcome: 'ignored', reason })],
          done: (): ProcessResult => ({ status: 'ignored', reason }),
        };
      });
    } catch (error) {
      if (error instanceof SettledMeanwhile) return readSettled(record);
      throw error;
    }
  }

  /** A deadlock is two workers on one invoice, not a fault: run again at once instead of waiting a backoff. */
  async function runWithDeadlockRetry(record: LoadedEvent, handler: EventHandler, startedAt: Date): Promise<ProcessResult> {
    let event: Stripe.Event | undefined;
    if (deps.prepare) {
      event = JSON.parse(record.payload) as Stripe.Event;
      // Outside the transaction: preparing may ask Stripe, and no lock should wait on that.
      if (deps.prepare.needed(event)) event = await deps.prepare.prepare(event, record.accountId);
    }
    for (let tries = 1; ; tries++) {
      try {
        return await runHandler(record, handler, startedAt, event);
      } catch (error) {
        if (!isDeadlock(error) || tries >= 5) throw error;
      }
    }
  }

  /** `expected`: the mode of the account's key; null or undefined when no key fixes one. */
  // A PayPal event's mode is its connection's (the one whose webhook signed it: paypal/paypal-event-envelope.ts), not the Stripe key's.
  const modeMatches = (record: LoadedEvent, expected: boolean | null | undefined) =>
    record.gateway === 'paypal' || expected === undefined || expected === null || expected === record.livemode;
  const livemodeMatches = async (record: LoadedEvent) => modeMatches(record, await deps.expectedLivemode?.(record.accountId));

  /** The status another run gave an event while this run waited for its locks. */
  async function readSettled(record: LoadedEvent): Promise<ProcessResult> {
    const [now] = (await deps.dataSource.query('SELECT status, reason FROM stripe_events WHERE id = ? AND account_scope = ?', [
      record.id,
      accountScope(record.accountId),
    ])) as { status: EventStatus; reason: string | null }[];
    return { status: now?.status ?? 'processed', reason: now?.reason ?? null, alreadySettled: true };
  }

  async function processEvent(ref: string | EventRef, attempt: Attempt, startedAt = new Date(), handOver = false): Promise<ProcessResult> {
    const record = await loadEvent(refOf(ref));
    if (!record) throw new EventNotStoredError(refOf(ref));
    // Redelivered jobs (stalled, relayed twice) must not run a settled event again; nor may a stray job
    // run a failed one (a replay puts it back to `received` before it enqueues it).
    if (record.status === 'processed' || record.status === 'ignored' || record.status === 'failed') {
      return { status: record.status, reason: record.reason, alreadySettled: true };
    }

    // A test-mode event on a live connection (or the reverse) must not touch real invoices:
    // stored, ignored, and counted on the connection so the merchant sees why payments don't appear.
    if (!(await livemodeMatches(record))) {
      // Counted before the event settles, so whoever sees the event ignored also sees it counted.
      await deps.recordLivemodeMismatch?.(record.accountId);
      return settleWithoutHandler(record, 'livemode_mismatch', startedAt);
    }

    const handler = handlerFor(deps.registry, record.type);
    if (!handler) {
      // Stripe retries non-2xx for days, and a queue retry cannot grow a handler: record and move on.
      return settleWithoutHandler(record, 'unhandled_type', startedAt);
    }

    try {
      return await runWithDeadlockRetry(record, handler, startedAt);
    } catch (error) {
      if (error instanceof SettledMeanwhile) return readSettled(record);
      // Nothing recorded: the event's own job makes this try again, as its first.
      if (handOver) throw new HandOverError(error);
      // A payload that can never be applied as it stands fails at once: retries would only repeat it.
      const rejected = error instanceof EventRejectedError ? error.reason : null;
      const final = rejected !== null || attempt.number >= attempt.max;
      // The try's history first, then the status: whoever sees the event failed (on-call, a test)
      // also sees the try that failed it. History is for on-call; failing to write it must not
      // hide the handler's own error.
      await recordAttempt(deps.dataSource, {
        eventId: record.id,
        accountId: record.accountId,
        attempt: record.attempts + 1,
        startedAt,
        outcome: final ? 'failed' : 'retrying',
        reason: rejected,
        error,
      }).catch(
        (historyError: unknown) => deps.logger.warn('could not record the attempt', { error: describeError(historyError) }),
      );
      // Only a still-unsettled event: if the commit went through but its answer was lost, the
      // event is processed and must not be put back.
      await deps.dataSource.query(
        "UPDATE stripe_events SET status = ?, reason = COALESCE(?, reason), attempts = attempts + 1, last_error = ? WHERE id = ? AND account_scope = ? AND status = 'received'",
        [final ? 'failed' : 'received', rejected, describeError(error).slice(0, 4000), record.id, accountScope(record.accountId)],
      );
      // error: failed for good, on-call replays it once fixed; warn: the queue tries it again by itself.
      const message = rejected ? `event failed: ${rejected}` : final ? 'event failed; retries exhausted' : 'event handler failed; will retry';
      deps.logger.log(final ? 'error' : 'warn', message, {
        type: record.type,
        attempt: attempt.number,
        maxAttempts: attempt.max,
        error: describeError(error),
        thrownAt: thrownAt(error),
      });
      throw error;
    }
  }

  /**
   * Several events in one transaction, run one after another on one connection. Per batch, not per
   * event: the BEGIN and the events' load (one round trip), the locks of every payment and invoice
   * the events touch (two: all payments, then all invoices, each in id order, so batches do not
   * wait on each other in a circle over them; billing/payment-ledger.ts), the invoices' facts read
   * with the events' statuses, and their history rows with the COMMIT: five in all. Only the common case rides along
   * (stored, unsettled, handled, mode matching, once in the batch); anything else runs alone. If a
   * handler fails, the transaction deadlocks all the same (rare: see payment-ledger.ts), or another
   * run settled one of its events meanwhile, the whole batch rolls back and its events run alone,
   * one after another, each with its own retries and history: the outcome is what one-at-a-time
   * processing gives.
   */
  async function processBatch(items: BatchItem[]): Promise<PromiseSettledResult<ProcessResult>[]> {
    const results: PromiseSettledResult<ProcessResult>[] = new Array(items.length);
    const alone: number[] = [];
    if (items.length === 1) alone.push(0);
    else {
      try {
        const settled = await foldedTransaction(deps.dataSource, async (tx) => {
          const rows = (await tx.query(SELECT_EVENTS, [[...new Set(items.map((item) => item.ref.eventId))]])) as EventRow[];
          const records = items.map((item) => {
            const row = pickRow(rows, item.ref);
            return row && toRecord(row);
          });
          // Each account's mode once per batch, before any lock is taken.
          const accounts = [...new Set(records.flatMap((record) => (record ? [record.accountId] : [])))];
          const modes = new Map(await Promise.all(accounts.map(async (accountId) => [accountId, await deps.expectedLivemode?.(accountId)] as const)));
          const riders: { index: number; record: LoadedEvent; handler: EventHandler; event: Stripe.Event }[] = [];
          const riding = new Set<string>();
          for (const [index, record] of records.entries()) {
            const handler = record && handlerFor(deps.registry, record.type);
            if (!record || !handler || record.status !== 'received' || riding.has(sameRow(record)) || !modeMatches(record, modes.get(record.accountId))) {
              alone.push(index);
              continue;
            }
            const event = JSON.parse(record.payload) as Stripe.Event;
            // An event to prepare first (it may ask Stripe) runs alone, outside any batch's locks.
            if (deps.prepare?.needed(event)) {
              alone.push(index);
              continue;
            }
            riding.add(sameRow(record));
            riders.push({ index, record, handler, event });
          }
          // Every payment and invoice the batch will touch, locked in two round trips instead of one per event.
          const locks: PaymentLock[] = [];
          for (const { record, handler, event } of riders) {
            const target = handler.lockTarget?.(event);
            // Not `{ ...target, origin }`: a key added to a spread copy costs ~0.5 µs in Node 20.
            if (target) locks.push({ paymentId: target.paymentId, referencedInvoiceId: target.referencedInvoiceId, fact: target.fact, origin: { accountId: record.accountId, livemode: record.livemode } });
          }
          await lockPaymentsUpFront(tx, locks);
          const runs: { index: number; record: LoadedEvent; status: 'processed' | 'ignored'; reason: string | null }[] = [];
          for (const { index, record, handler, event } of riders) {
            const outcome = await runWithContext(items[index]!.context, () => runInTransaction(tx, record, handler, event));
            runs.push({ index, record, ...outcome });
          }
          if (runs.length === 0) return { final: [], done: () => [] };
          // After the handlers: the events' statuses, one statement per outcome, guarded as a lone run's (and riding
          // with the facts read as a lone run's). If another run settled one of them meanwhile, the batch rolls
          // back and its events run alone, which reports that one settled.
          // One UPDATE per outcome (usually one: all processed), short for MariaDB to parse at any batch size.
          const byOutcome = new Map<string, { status: 'processed' | 'ignored'; reason: string | null; records: LoadedEvent[] }>();
          for (const run of runs) {
            const key = `${run.status}\u0000${run.reason ?? ''}`;
            const group = byOutcome.get(key) ?? byOutcome.set(key, { status: run.status, reason: run.reason, records: [] }).get(key)!;
            group.records.push(run.record);
          }
          for (const { status, reason, records } of byOutcome.values()) {
            tx.deferGuard(settleEvents(status, reason, records), (update) => {
              if (affectedRows(update) !== records.length) throw new SettledMeanwhile();
            });
          }
          return {
            // The history rows ride with the COMMIT.
            final: [
              successfulAttemptsInsert(
                runs.map((run) => ({
                  eventId: run.record.id,
                  accountId: run.record.accountId,
                  attempt: run.record.attempts + 1,
                  jobId: items[run.index]!.context.jobId ?? null,
                  startedAt: items[run.index]!.startedAt,
                  outcome: run.status,
                  reason: run.reason,
                })),
              ),
            ],
            done: () => runs.map((run) => ({ index: run.index, result: { status: run.status, reason: run.reason } })),
          };
        });
        for (const { index, result } of settled) results[index] = { status: 'fulfilled', value: result };
      } catch (error) {
        deps.logger.debug('batch rolled back; its events run alone', { events: items.length, error: describeError(error) });
        alone.splice(0, alone.length, ...items.keys());
      }
    }
    // One after another: after a rollback, a burst of lone transactions would contend for the same rows again.
    for (const index of alone) {
      const item = items[index]!;
      results[index] = await runWithContext(item.context, () => processEvent(item.ref, item.attempt, item.startedAt, item.handOver)).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
    }
    return results;
  }

  /** `handOver`: the event came in a batch job; if it fails, throw HandOverError and record nothing. */
  type Process = (ref: string | EventRef, attempt: Attempt, options?: { handOver?: boolean }) => Promise<ProcessResult>;
  if (!deps.batch || deps.batch.maxBatch <= 1) return ((ref, attempt, options) => processEvent(ref, attempt, new Date(), options?.handOver)) as Process;
  const batched = createBatcher(processBatch, deps.batch);
  return ((ref, attempt, options) =>
    batched({ ref: refOf(ref), attempt, context: currentContext() ?? {}, startedAt: new Date(), handOver: options?.handOver ?? false })) as Process;
}

interface BatchItem {
  ref: EventRef;
  attempt: Attempt;
  /** The job's log context, restored while its handler runs. */
  context: LogContext;
  /** When the job handed the event over: its try's start in the history. */
  startedAt: Date;
  /** From a batch job: a failure is handed over, not recorded (HandOverError). */
  handOver: boolean;
}

export type EventProcessor = ReturnType<typeof createEventProcessor>;
