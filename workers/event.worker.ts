import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { RedisClient } from '../src/redis/connections.js';
import { EVENT_QUEUE_NAME, isBatchJob, type AnyEventJobData, type BatchedEvent, type BatchJobData, type EventJobData } from '../src/events/event-queue.js';
import { EventNotStoredError, HandOverError, type EventProcessor } from '../src/events/process-event.js';
import type { QueuedEvent } from '../src/events/event-publisher.js';
import { runWithContext } from '../src/shared/context.js';
import { EventRejectedError } from '../src/shared/errors.js';
import type { Metrics } from '../src/shared/metrics.js';
import type { Logger } from '../src/shared/logger.js';
import { describeError } from '../src/shared/errors.js';
import type { RedisHealth } from '../src/events/redis-health.js';

export interface EventWorkerOptions {
  connection: RedisClient;
  /** Which event queue (shard) this worker consumes; stripe-events by default. */
  queue?: string;
  prefix: string;
  concurrency: number;
  /** BullMQ lockDuration: keep it well above the longest event-loop stall, or live jobs look dead and run twice. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  processEvent: EventProcessor;
  /** A batch job's events at a time in the processor (WORKER_BATCH_SIZE): what one job adds to the events in flight. */
  batchJobChunk: number;
  /** Puts a batch job's unsettled events each in a job of its own on that queue (EventPublisher.handOver). */
  handOver: (queue: string, events: QueuedEvent[]) => Promise<void>;
  metrics: Metrics;
  logger: Logger;
  redisHealth: RedisHealth;
}

const queued = (event: BatchedEvent): QueuedEvent => ({ id: event.eventId, accountId: event.accountId, type: event.type });

/** A batch job's outcome, kept with the completed job for the queue UI. */
export interface BatchJobResult {
  settled: number;
  /** Events put in jobs of their own, which try them as lone events (or run them after a restart). */
  handedOver: string[];
}

/**
 * An event queue's worker (one per shard): context, timing and retry bookkeeping around
 * processEvent, for both kinds of job (src/events/event-queue.ts): an event's own job, and a batch
 * job whose events settle in the processor's batches like any others.
 */
export function createEventWorker(options: EventWorkerOptions): Worker<AnyEventJobData> {
  const { processEvent, metrics } = options;
  const queueName = options.queue ?? EVENT_QUEUE_NAME;

  const runEventJob = (job: Job<AnyEventJobData>, data: EventJobData) =>
    runWithContext({ jobId: job.id, eventId: data.eventId, ...(data.accountId ? { accountId: data.accountId } : {}) }, async () => {
      const stopTimer = metrics.startEventJobTimer(job.name);
      try {
        const result = await processEvent({ eventId: data.eventId, accountId: data.accountId }, {
          number: job.attemptsMade + 1,
          max: job.opts.attempts ?? 1,
        });
        stopTimer({ outcome: result.status });
        return result;
      } catch (error) {
        stopTimer({ outcome: 'error' });
        // Neither can a retry help: the event is not stored, or its payload can never be applied as it stands (failed at once).
        if (error instanceof EventNotStoredError || error instanceof EventRejectedError) throw new UnrecoverableError(error.message);
        throw error;
      }
    });

  /**
   * The batch's events go to the processor WORKER_BATCH_SIZE at a time (its batches group them
   * with other jobs' events), so a job holds no more events in flight than one transaction takes.
   * One that does not settle is not counted as a try: it goes on to a job of its own. So do the
   * events not yet started when the worker is closing, so that a stop is not held up by a big
   * batch. Only if the hand-over fails does the batch job fail (BullMQ tries it again; its settled
   * events are then skipped, and the relay covers a batch job that never succeeds).
   */
  async function runBatchJob(job: Job<AnyEventJobData>, data: BatchJobData): Promise<BatchJobResult> {
    const attempt = { number: job.attemptsMade + 1, max: job.opts.attempts ?? 1 };
    const left: QueuedEvent[] = [];
    const runOne = (event: BatchedEvent) =>
      runWithContext({ jobId: job.id, eventId: event.eventId, ...(event.accountId ? { accountId: event.accountId } : {}) }, async () => {
        const stopTimer = metrics.startEventJobTimer(event.type);
        try {
          const result = await processEvent({ eventId: event.eventId, accountId: event.accountId }, attempt, { handOver: true });
          stopTimer({ outcome: result.status });
        } catch (error) {
          stopTimer({ outcome: 'handed_over' });
          options.logger.info('event handed over to a job of its own', { type: event.type, error: describeError(error instanceof HandOverError ? error.cause : error) });
          left.push(queued(event));
        }
      });
    for (let start = 0; start < data.events.length; start += options.batchJobChunk) {
      if (worker.closing) {
        left.push(...data.events.slice(start).map(queued));
        break;
      }
      await Promise.all(data.events.slice(start, start + options.batchJobChunk).map(runOne));
    }
    if (left.length > 0) await options.handOver(queueName, left);
    return { settled: data.events.length - left.length, handedOver: left.map((event) => event.id) };
  }

  const worker = new Worker<AnyEventJobData>(queueName, (job) => (isBatchJob(job.data) ? runBatchJob(job, job.data) : runEventJob(job, job.data)), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    autorun: true,
  });
  worker.on('error', options.redisHealth.errorListener('worker error'));
  return worker;
}
