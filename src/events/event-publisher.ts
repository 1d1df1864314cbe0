import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createEventQueue, eventJob, type EventJobData, type EventQueueOptions } from './event-queue';

/**
 * Puts stored events on the queue, failing at once while Redis is unreachable.
 * BullMQ's Queue checks the Redis version when it is built, and a Queue built
 * while Redis is down stays broken; so the Queue is built on the connection's
 * first `ready`, and until then publish() rejects (the relay catches up later).
 */
export class EventPublisher {
  private queue?: Queue<EventJobData>;

  constructor(private readonly options: EventQueueOptions & { connection: Redis }) {
    if (options.connection.status === 'ready') this.build();
    else options.connection.once('ready', () => this.build());
  }

  private build(): void {
    this.queue ??= createEventQueue(this.options);
  }

  async publish(events: readonly { id: string; type: string }[]): Promise<void> {
    if (events.length === 0) return;
    if (!this.queue) throw new Error('Redis has not been reachable since start-up');
    await this.queue.addBulk(events.map(eventJob));
  }

  async jobCounts(): Promise<Record<string, number>> {
    return this.queue ? this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed') : {};
  }

  async close(): Promise<void> {
    await this.queue?.close();
  }
}
