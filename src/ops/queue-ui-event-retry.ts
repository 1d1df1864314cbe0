import type { RequestHandler } from 'express';
import type { Job, Queue } from 'bullmq';
import { isBatchJob, type AnyEventJobData } from '../events/event-queue.js';
import { AppError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AuditActor } from './audit-log.js';
import type { ReplayService } from './replay.service.js';
import { queueActionOf } from './queue-ui-actions.js';

const RETRIABLE = new Set(['failed', 'completed']);
/** Jobs taken from the head of a status set at a time, as bull-board's own Retry all does. */
const PAGE = 100;

export interface EventRetryDeps {
  replay: Pick<ReplayService, 'replayOne'>;
  /** An event queue (shard) by name, once Redis has answered. */
  eventQueue: (name: string) => Queue<AnyEventJobData> | undefined;
  /** Whether a queue name is one of the event queue's shards. */
  isEventQueue: (name: string) => boolean;
  logger: Logger;
}

/** What the audit entry of a Retry adds: which events were run again, through which replay entry. */
export interface EventRetryOutcome {
  eventId?: string;
  accountId?: string | null;
  previousStatus?: string;
  replayAuditId?: number;
  retried?: number;
  skipped?: number;
  /** A batch job's events (event-queue.ts, BatchJobData), each replayed under its own audit entry. */
  eventIds?: string[];
  replayAuditIds?: number[];
}

/**
 * Retry in the queue UI, for the event queue. BullMQ's own retry moves the job back to waiting,
 * but the worker runs nothing for an event whose row is already settled (failed included: a
 * stray job must not apply what on-call has not decided to run again), so the click changed
 * nothing. Here a Retry is a replay of the job's event (src/ops/replay.service.ts): the row goes
 * back to `received` with its history kept, the job is added again, and the replay is audited
 * in the operator's name, as `billed-ops replay` would be.
 */
export function eventRetryHandler(deps: EventRetryDeps): RequestHandler {
  const queue = (name: string) => {
    const built = deps.eventQueue(name);
    if (!built) throw new AppError(503, 'queue_unavailable', 'Redis has not been reachable since this process started: check REDIS_URL and /readyz, then try again.');
    return built;
  };

  /** A batch job's events, each replayed (into a job of its own), in the job's order; or the one event of an event's job. */
  async function replayJob(job: Job<AnyEventJobData>, actor: AuditActor) {
    const data = job.data;
    if (isBatchJob(data)) {
      const results = [];
      for (const event of data.events) results.push(await deps.replay.replayOne(event.eventId, actor, event.accountId));
      return results;
    }
    if (!data || typeof data.eventId !== 'string') {
      throw new AppError(400, 'job_not_an_event', `Job ${job.id} carries no event id, so there is no stored event to run again: remove it (admin) instead.`);
    }
    // Jobs enqueued before the inbox was scoped by account carry no accountId: then the id names one copy.
    const account = 'accountId' in data ? (data.accountId ?? null) : undefined;
    return [await deps.replay.replayOne(data.eventId, actor, account)];
  }

  async function retryOne(queueName: string, jobId: string, actor: AuditActor): Promise<EventRetryOutcome> {
    const job = (await queue(queueName).getJob(jobId)) as Job<AnyEventJobData> | undefined;
    if (!job) throw new AppError(404, 'job_not_found', `No job "${jobId.slice(0, 200)}" in ${queueName}: it may have been removed meanwhile; reload the page, or replay the event by its id.`);
    const state = await job.getState();
    if (!RETRIABLE.has(state)) {
      throw new AppError(400, 'job_not_retriable', `Job ${job.id} is ${state}: only a failed or completed job can be retried.`);
    }
    const results = await replayJob(job, actor);
    if (isBatchJob(job.data)) {
      // Its events are in jobs of their own now: the batch job leaves the set, as a replayed event's own job does.
      await job.remove().catch(() => undefined);
      return { retried: results.length, eventIds: results.map((result) => result.eventId), replayAuditIds: results.map((result) => result.auditId) };
    }
    const [result] = results as [(typeof results)[number]];
    return { eventId: result.eventId, accountId: result.accountId, previousStatus: result.previousStatus, replayAuditId: result.auditId };
  }

  /**
   * Retry all in one status: each event of the set's jobs replayed once. The set is listed first
   * and then replayed: a replay adds jobs of their own that may finish into the same set while it
   * runs (a batch job's events do, under new ids), and those must not be replayed again. A batch
   * job whose events were all replayed is removed, as a replayed event's own job leaves the set.
   */
  async function retryAll(queueName: string, status: string, actor: AuditActor): Promise<EventRetryOutcome> {
    if (status !== 'failed' && status !== 'completed') {
      throw new AppError(400, 'status_not_retriable', `Only failed or completed jobs can be retried, not ${status.slice(0, 40)}.`);
    }
    const eventQueue = queue(queueName);
    const total = (await eventQueue.getJobCounts(status))[status] ?? 0;
    const listed: Job<AnyEventJobData>[] = [];
    for (let start = 0; start < total; start += PAGE) {
      const page = (await eventQueue.getJobs([status], start, start + PAGE - 1)) as (Job<AnyEventJobData> | undefined)[];
      if (page.length === 0) break;
      listed.push(...page.filter((job): job is Job<AnyEventJobData> => Boolean(job?.id)));
    }
    const seen = new Set<string>();
    let retried = 0;
    let skipped = 0;
    for (let start = 0; start < listed.length; start += PAGE) {
      const jobs = listed.slice(start, start + PAGE);
      await Promise.all(
        jobs.map(async (job) => {
          const events = isBatchJob(job.data) ? job.data.events : [job.data];
          let replayedAll = true;
          for (const event of events) {
            const key = `${event.eventId}\u0000${event.accountId ?? ''}`;
            if (seen.has(key)) continue;
            seen.add(key);
            try {
              if (typeof event?.eventId !== 'string') throw new AppError(400, 'job_not_an_event', `Job ${job.id} carries no event id.`);
              // Jobs enqueued before the inbox was scoped by account carry no accountId: then the id names one copy.
              await deps.replay.replayOne(event.eventId, actor, 'accountId' in event ? (event.accountId ?? null) : undefined);
              retried += 1;
            } catch (error) {
              replayedAll = false;
              skipped += 1;
              deps.logger.warn('queue UI retry all: an event could not be replayed', { jobId: job.id, eventId: event?.eventId, error: describeError(error) });
            }
          }
          if (isBatchJob(job.data) && replayedAll) await job.remove().catch(() => undefined);
        }),
      );
    }
    return { retried, skipped };
  }

  return async (req, res, next) => {
    const action = queueActionOf(res);
    const queueName = action?.params.queueName;
    if (!action || !queueName || !deps.isEventQueue(queueName) || (action.name !== 'retry' && action.name !== 'retry_all')) {
      next();
      return;
    }
    const actor = req.principal!;
    if (action.name === 'retry') {
      res.locals.queueUiOutcome = await retryOne(queueName, action.params.jobId!, actor);
      res.status(204).end();
      return;
    }
    const outcome = await retryAll(queueName, action.params.queueStatus!, actor);
    res.locals.queueUiOutcome = outcome;
    res.status(200).json({ retried: outcome.retried, skipped: outcome.skipped });
  };
}
