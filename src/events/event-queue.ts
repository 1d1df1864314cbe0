import { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connections.js';
import { EVENT_QUEUE_NAME, type QueueLayout } from '../redis/queue-layout.js';
import type { RedisHealth } from './redis-health.js';

export { EVENT_QUEUE_NAME };

export interface EventJobData {
  eventId: string;
  /**
   * The account whose endpoint the event came in on (null: the default endpoint): with the
   * event id, the inbox row's key. Absent in jobs enqueued before the inbox was scoped by
   * account: those mean the earliest stored row with the id (then the only one).
   */
  accountId?: string | null;
}

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
export function createEventQueue(options: EventQueueOptions, name: string = EVENT_QUEUE_NAME): Queue<EventJobData> {
  const queue = new Queue<EventJobData>(name, {
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
  data: { eventId: event.id, accountId: event.accountId },
  opts: { jobId: eventJobId(event.id, event.accountId) },
});
