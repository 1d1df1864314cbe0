import { UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '../src/redis/connections.js';
import { EVENT_QUEUE_NAME, type EventJobData } from '../src/events/event-queue.js';
import { EventNotStoredError, type EventProcessor } from '../src/events/process-event.js';
import { runWithContext } from '../src/shared/context.js';
import { EventRejectedError } from '../src/shared/errors.js';
import type { Metrics } from '../src/shared/metrics.js';
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
  metrics: Metrics;
  redisHealth: RedisHealth;
}

/** An event queue's worker (one per shard): context, timing and retry bookkeeping around processEvent. */
export function createEventWorker(options: EventWorkerOptions): Worker<EventJobData> {
  const { processEvent, metrics } = options;
  const worker = new Worker<EventJobData>(
    options.queue ?? EVENT_QUEUE_NAME,
    (job) =>
      runWithContext({ jobId: job.id, eventId: job.data.eventId, ...(job.data.accountId ? { accountId: job.data.accountId } : {}) }, async () => {
        const stopTimer = metrics.startEventJobTimer(job.name);
        try {
          const result = await processEvent({ eventId: job.data.eventId, accountId: job.data.accountId }, {
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
      }),
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      autorun: true,
    },
  );
  worker.on('error', options.redisHealth.errorListener('worker error'));
  return worker;
}
