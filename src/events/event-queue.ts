import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';

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
}

/**
 * Producer-side Redis connection. The webhook route must never wait on Redis:
 * with the offline queue off, commands fail at once while Redis is down, the
 * event is already stored, and the relay enqueues it later.
 */
export function createProducerConnection(redisUrl: string, logger: Logger): Redis {
  const connection = new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  attachErrorLog(connection, logger, 'producer');
  return connection;
}

/** Worker-side connection: BullMQ's blocking commands need maxRetriesPerRequest: null. */
export function createWorkerConnection(redisUrl: string, logger: Logger): Redis {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  attachErrorLog(connection, logger, 'worker');
  return connection;
}

/** One line per outage, not one per reconnect attempt. */
function attachErrorLog(connection: Redis, logger: Logger, role: string): void {
  let down = false;
  connection.on('error', (error: Error) => {
    if (!down) logger.warn('redis connection lost', { role, error: error.message });
    down = true;
  });
  connection.on('ready', () => {
    if (down) logger.info('redis connection back', { role });
    down = false;
  });
}

export function createEventQueue(options: EventQueueOptions): Queue<EventJobData> {
  return new Queue<EventJobData>(EVENT_QUEUE_NAME, {
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
