import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { closeQueue } from '../runtime/graceful-close.js';
import { createEventQueue, eventJob, eventJobId, type EventJobData, type EventQueueOptions } from './event-queue.js';

/** A stored event as the queue needs it: its key (id and account) and its type (the job's name). */
export interface QueuedEvent {
  id: string;
  type: string;
  accountId: string | null;
}

const jobIdOf = (event: QueuedEvent) => eventJobId(event.id, event.accountId);

/**
 * Puts stored events on the queue, failing at once while Redis is unreachable.
 * BullMQ's Queue checks the Redis version when it is built, which fails (and
 * logs) while Redis is down; so the Queue is built on the connection's first
 * `ready`, and until then publish() rejects (the relay catches up later).
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

  async publish(events: readonly QueuedEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (!this.queue) throw new Error('Redis has not been reachable since start-up');
    await this.queue.addBulk(events.map(eventJob));
  }

  /**
   * Replay: the event's old job (completed or failed, kept a while for the queue
   * UI) would turn a plain add into a no-op, so it is removed first and the job
   * added again under the same id, which the relay's adds then dedupe against.
   * An active job cannot be removed: then the try under way is the replay.
   */
  async requeue(events: readonly QueuedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const queue = this.queue;
    if (!queue) throw new Error('Redis has not been reachable since start-up');
    await Promise.all(events.map((event) => queue.remove(jobIdOf(event))));
    await queue.addBulk(events.map(eventJob));
  }

  /**
   * For the relay: puts stored-but-unsettled events on the queue. A plain add is a no-op
   * when a job with that id exists, which is right for a job that is waiting, delayed
   * or running, but not for one BullMQ already finished or gave up on (the database was
   * down through every retry): those are removed and added again.
   */
  async resubmit(events: readonly QueuedEvent[]): Promise<{ readded: number }> {
    if (events.length === 0) return { readded: 0 };
    const queue = this.queue;
    if (!queue) throw new Error('Redis has not been reachable since start-up');
    const states = await Promise.all(events.map((event) => queue.getJobState(jobIdOf(event))));
    const finished = events.filter((_, i) => states[i] === 'failed' || states[i] === 'completed');
    await Promise.all(finished.map((event) => queue.remove(jobIdOf(event))));
    await queue.addBulk(events.map(eventJob));
    return { readded: finished.length };
  }

  /** Redis is known to be unreachable: its outage is logged once for the process, so callers need not log each failure. */
  get redisDown(): boolean {
    return this.options.redisHealth.down;
  }

  /** The queue once Redis has been reachable (for the queue UI); undefined before. */
  currentQueue(): Queue<EventJobData> | undefined {
    return this.queue;
  }

  async jobCounts(): Promise<Record<string, number>> {
    return this.queue ? this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed') : {};
  }

  async close(): Promise<void> {
    if (this.queue) await closeQueue(this.queue);
  }
}
