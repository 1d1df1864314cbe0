import { describeError } from '../shared/errors.js';
import { currentContext } from '../shared/context.js';
import { projectFrames, type FrameOptions } from '../shared/stack-frames.js';
import { accountScope } from '../shared/account-scope.js';

export type AttemptOutcome = 'processed' | 'ignored' | 'retrying' | 'failed';

export interface AttemptRow {
  eventId: string;
  /** The account of the event's endpoint (null: the default one): with the id, the event's key. */
  accountId: string | null;
  /** The event's attempts counter after this try. */
  attempt: number;
  startedAt: Date;
  outcome: AttemptOutcome;
  reason?: string | null;
  error?: unknown;
}

/**
 * Where the error was thrown, as on-call wants to open it: `src/billing/charge.handlers.ts:42`,
 * the first frame in this repository's code (shared/stack-frames.ts), passing over src/db/:
 * a handler's failed query is thrown inside the driver, under the transaction wrapper the
 * handler called, and the line to look at is the handler's. With no frame of ours (an error
 * made inside a library, whose stack never reached our code), the first frame as V8 wrote it.
 */
export function thrownAt(error: unknown, options?: FrameOptions): string | null {
  const stack = error instanceof Error ? error.stack : undefined;
  if (!stack) return null;
  const ours = projectFrames(stack, options);
  const frame = ours.find((f) => !f.file.startsWith('src/db/')) ?? ours[0];
  if (frame) return `${frame.file}:${frame.line}`.slice(0, 1024);
  const first = stack.split('\n').find((line) => /^\s+at\s/.test(line));
  return first ? first.trim().slice(0, 1024) : null;
}

/**
 * One INSERT per try into event_attempts, the event's processing history.
 * `runner` is the handler's transaction on success (the history row commits
 * with the status), or the data source after a failure.
 */
export async function recordAttempt(runner: { query: (sql: string, params?: unknown[]) => Promise<unknown> }, row: AttemptRow): Promise<void> {
  const { sql, params } = attemptInsert(row);
  await runner.query(sql, params);
}

/** The INSERT of `recordAttempt`, for callers that send it together with other statements (the COMMIT). */
export function attemptInsert(row: AttemptRow): { sql: string; params: unknown[] } {
  return {
    sql: `INSERT INTO event_attempts (event_id, account_scope, attempt, job_id, started_at, finished_at, outcome, reason, error, stack_line)
     VALUES (?, ?, ?, ?, ?, NOW(3), ?, ?, ?, ?)`,
    params: [
      row.eventId,
      accountScope(row.accountId),
      row.attempt,
      currentContext()?.jobId ?? null,
      row.startedAt,
      row.outcome,
      row.reason ?? null,
      row.error === undefined ? null : describeError(row.error).slice(0, 4000),
      row.error === undefined ? null : thrownAt(row.error),
    ],
  };
}

/**
 * The history rows of a batch's successful tries in one multi-row INSERT (no error, no stack).
 * `jobId` is passed in: the batch runs outside each job's own context.
 */
export function successfulAttemptsInsert(rows: (AttemptRow & { jobId: string | null })[]): { sql: string; params: unknown[] } {
  // A loop, not flatMap (several times slower in V8 for a batch's rows).
  const params: unknown[] = [];
  for (const row of rows) params.push(row.eventId, accountScope(row.accountId), row.attempt, row.jobId, row.startedAt, row.outcome, row.reason ?? null);
  return {
    sql: `INSERT INTO event_attempts (event_id, account_scope, attempt, job_id, started_at, finished_at, outcome, reason, error, stack_line)
     VALUES ${rows.map(() => '(?, ?, ?, ?, ?, NOW(3), ?, ?, NULL, NULL)').join(', ')}`,
    params,
  };
}
