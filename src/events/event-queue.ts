import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connections.js';
import { EVENT_QUEUE_NAME, type QueueLayout } from '../redis/queue-layout.js';
import type { RedisHealth } from './redis-health.js';

export { EVENT_QUEUE_NAME };

/** A job for one stored event (jobId = the row's key, eventJobId). */
export interface EventJobData {
  eventId: string;
  /**
   * The account whose endpoint the event came in on (null: the default endpoint): with the
   * event id, the inbox row's key. Absent in jobs enqueued before the inbox was scoped by
   * account: those mean the earliest stored row with the id (then the only one).
   */
  accountId?: string | null;
}

/** One event of a batch job. */
export interface BatchedEvent {
  eventId: string;
  accountId: string | null;
  type: string;
}

/**
 * A job for the events one inbox INSERT stored together (a burst's group commit) on one shard:
 * BullMQ's cost per job (two scripts, ~38 Redis commands, ~100 µs of node CPU) is then paid once
 * per batch instead of once per event. Each row records the job (`stripe_events.queue_job`), so
 * the relay knows the event is queued. An event the batch cannot settle goes on to a job of its
 * own (EventJobData), where its tries, backoff and failure are what they are for a lone event.
 */
export interface BatchJobData {
  events: BatchedEvent[];
}

export type AnyEventJobData = EventJobData | BatchJobData;

export const isBatchJob = (data: AnyEventJobData | undefined): data is BatchJobData => Array.isArray((data as BatchJobData | undefined)?.events);

/** The events a job is for: a batch job's, or the one of an event's own job. */
export const eventsOfJob = (data: AnyEventJobData): { eventId: string; accountId?: string | null }[] => (isBatchJob(data) ? data.events : [data]);

/** The job name of a batch job (an event's own job is named after its type). */
export const BATCH_JOB_NAME = 'events';

export interface EventQueueOptions {
  connection: RedisClient;
  /** Which queues (shards) there are, and their key prefixes. */
  layout: QueueLayout;
  attempts: number;
  backoffMs: number;
  /** Where the queue's errors go (connection errors fold into one outage line). */
  redisHealth: RedisHealth;
}

/** One shard of the event queue (`name` is one of layout.eventQueues). */
export function createEventQueue(options: EventQueueOptions, name: string = EVENT_QUEUE_NAME): Queue<AnyEventJobData> {
  const queue = new Queue<AnyEventJobData>(name, {
    connection: options.connection,
    prefix: options.layout.prefixOf(name),
    defaultJobOptions: {
      attempts: options.attempts,
      backoff: { type: 'exponential', delay: options.backoffMs },
      // Completed jobs are only a convenience for the queue UI: the inbox is the record.
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 14 * 24 * 3600 },
    },
  });
  queue.on('error', options.redisHealth.errorListener(name === EVENT_QUEUE_NAME ? 'event queue error' : `${name} queue error`));
  return queue;
}

/**
 * One job per inbox row, so BullMQ ignoring an add whose jobId exists makes enqueueing twice
 * harmless: the event id for the default endpoint, `<event id>@<account id>` for a merchant's
 * (BullMQ forbids ':'; '@' is in neither an event id nor an account id, so no two rows share one).
 */
export const eventJobId = (eventId: string, accountId: string | null | undefined): string => (accountId ? `${eventId}@${accountId}` : eventId);

export const eventJob = (event: { id: string; type: string; accountId: string | null }) => ({
  name: event.type,
  data: { eventId: event.id, accountId: event.accountId } as AnyEventJobData,
  opts: { jobId: eventJobId(event.id, event.accountId) },
});

/** A fresh batch job id: `batch-` and 16 random characters (BullMQ forbids ':'; no event id starts so). */
export const newBatchJobId = (): string => `batch-${randomBytes(12).toString('base64url')}`;

export const batchJob = (jobId: string, events: readonly { id: string; type: string; accountId: string | null }[]) => ({
  name: BATCH_JOB_NAME,
  data: { events: events.map((event) => ({ eventId: event.id, accountId: event.accountId, type: event.type })) } as AnyEventJobData,
  opts: { jobId },
});
