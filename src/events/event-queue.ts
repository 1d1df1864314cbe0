import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { RedisHealth } from './redis-health.js';

export const EVENT_QUEUE_NAME = 'stripe-events';

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
  connection: Redis;
  prefix: string;
  attempts: number;
  backoffMs: number;
  /** Where the queue's errors go (connection errors fold into one outage line). */
  redisHealth: RedisHealth;
}

/**
 * Producer-side Redis connection. The webhook route must never wait on Redis:
 * with the offline queue off, commands fail at once while Redis is down, the
 * event is already stored, and the relay enqueues it later.
 */
export function createProducerConnection(redisUrl: string, redisHealth: RedisHealth): Redis {
  const connection = new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redisHealth.watch(connection, 'producer');
  return connection;
}

/** Worker-side connection: BullMQ's blocking commands need maxRetriesPerRequest: null. */
export function createWorkerConnection(redisUrl: string, redisHealth: RedisHealth, role: string): Redis {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redisHealth.watch(connection, role);
  return connection;
}

export function createEventQueue(options: EventQueueOptions): Queue<EventJobData> {
  const queue = new Queue<EventJobData>(EVENT_QUEUE_NAME, {
    connection: options.connection,
    prefix: options.prefix,
    defaultJobOptions: {
      attempts: options.attempts,
      backoff: { type: 'exponential', delay: options.backoffMs },
      // Completed jobs are only a convenience for the queue UI: the inbox is the record.
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 14 * 24 * 3600 },
    },
  });
  queue.on('error', options.redisHealth.errorListener('event queue error'));
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
