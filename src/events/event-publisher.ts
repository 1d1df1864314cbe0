import type { Queue } from 'bullmq';
import { closeQueue } from '../runtime/graceful-close.js';
import { batchJob, createEventQueue, eventJob, eventJobId, newBatchJobId, type AnyEventJobData, type EventQueueOptions } from './event-queue.js';

/** A job to add: its name, data and options (jobId). */
type JobSpec = ReturnType<typeof eventJob>;

/**
 * One job as a plain add (one script call), several as addBulk (a pipeline of them). A burst's
 * INSERT is one batch job per shard, and an idle service queues one job per event: addBulk of
 * one job cost the API ~115 µs of CPU against ~57 for add (BullMQ 6, measured alone).
 */
async function addJobs(queue: Queue<AnyEventJobData>, jobs: readonly JobSpec[]): Promise<void> {
  if (jobs.length === 1) await queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
  else if (jobs.length > 1) await queue.addBulk([...jobs]);
}

/**
 * A stored event as the queue needs it: its key (id and account), its type (the job's name), and
 * what picks its shard (the payment it is about; see src/redis/queue-layout.ts). The relay and
 * replay read the routing key from the stored payload, a delivery from its envelope: the same
 * function of the same bytes, so an event always goes to the same shard.
 */
export interface QueuedEvent {
  id: string;
  type: string;
  accountId: string | null;
  routingKey?: string | null;
  /**
   * The batch job the event goes in (event-queue.ts, BatchJobData), chosen before it is stored
   * (assignBatchJobs) and recorded on its row; null or absent: a job of its own.
   */
  queueJob?: string | null;
}

/** A batch job that BullMQ still holds for running: its events need no other job. */
const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

const jobIdOf = (event: QueuedEvent) => eventJobId(event.id, event.accountId);

/**
 * Puts stored events on the queue (each on its shard), failing at once while Redis is
 * unreachable. BullMQ's Queue checks the Redis version when it is built, which fails (and
 * logs) while Redis is down; so the queues are built on the connection's first `ready`, and
 * until then publish() rejects (the relay catches up later).
 */
export class EventPublisher {
  private queues?: Map<string, Queue<AnyEventJobData>>;

  constructor(private readonly options: EventQueueOptions) {
    if (options.connection.status === 'ready') this.build();
    else options.connection.once('ready', () => this.build());
  }

  private build(): void {
    this.queues ??= new Map(this.options.layout.eventQueues.map((name) => [name, createEventQueue(this.options, name)]));
  }

  private ready(): Map<string, Queue<AnyEventJobData>> {
    if (!this.queues) throw new Error('Redis has not been reachable since start-up');
    return this.queues;
  }

  /**
   * Runs `work` once per shard with that shard's events, all shards at once. Every shard is tried
   * even when one fails (on a cluster, one master may be down while the others take their adds);
   * then the first failure is thrown, and the relay enqueues what it missed.
   */
  private async perShard<T>(events: readonly QueuedEvent[], work: (queue: Queue<AnyEventJobData>, events: QueuedEvent[]) => Promise<T>): Promise<T[]> {
    const queues = this.ready();
    const groups = new Map<string, QueuedEvent[]>();
    for (const event of events) {
      const name = this.options.layout.eventQueueOf(event);
      const group = groups.get(name);
      if (group) group.push(event);
      else groups.set(name, [event]);
    }
    const results = await Promise.allSettled([...groups].map(([name, group]) => work(queues.get(name)!, group)));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((result) => (result as PromiseFulfilledResult<T>).value);
  }

  /**
   * Picks the job each event will go in, before the events are stored (the row records it): the
   * events bound for one shard share a batch job when there are two or more of them, and one alone
   * gets a job of its own, as it always did (so an idle service queues one job per event, by its id).
   */
  assignBatchJobs<E extends QueuedEvent>(events: readonly E[]): E[] {
    const perShard = new Map<string, number>();
    for (const event of events) {
      const name = this.options.layout.eventQueueOf(event);
      perShard.set(name, (perShard.get(name) ?? 0) + 1);
    }
    const ids = new Map<string, string>();
    return events.map((event) => {
      const name = this.options.layout.eventQueueOf(event);
      if (perShard.get(name)! < 2) return { ...event, queueJob: null };
      const id = ids.get(name) ?? ids.set(name, newBatchJobId()).get(name)!;
      return { ...event, queueJob: id };
    });
  }

  /** Queues events: those with a queueJob in their batch job (one add per batch), the others each in its own. */
  async publish(events: readonly QueuedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.perShard(events, (queue, group) => {
      const batches = new Map<string, QueuedEvent[]>();
      const own: QueuedEvent[] = [];
      for (const event of group) {
        if (!event.queueJob) own.push(event);
        else if (batches.has(event.queueJob)) batches.get(event.queueJob)!.push(event);
        else batches.set(event.queueJob, [event]);
      }
      const jobs: JobSpec[] = [];
      for (const [id, batch] of batches) jobs.push(batchJob(id, batch));
      for (const event of own) jobs.push(eventJob(event));
      return addJobs(queue, jobs);
    });
  }

  /**
   * Replay: the event's old job (completed or failed, kept a while for the queue
   * UI) would turn a plain add into a no-op, so it is removed first and the job
   * added again under the same id, which the relay's adds then dedupe against.
   * An active job cannot be removed: then the try under way is the replay.
   */
  async requeue(events: readonly QueuedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.perShard(events, async (queue, group) => {
      await Promise.all(group.map((event) => queue.remove(jobIdOf(event))));
      await addJobs(queue, group.map(eventJob));
    });
  }

  /**
   * For the relay: puts stored-but-unsettled events on the queue. An event whose batch job is
   * still waiting or running is left to it. Any other goes in a job of its own: a plain add is a
   * no-op when a job with that id exists, which is right for a job that is waiting, delayed or
   * running, but not for one BullMQ already finished or gave up on (the database was down
   * through every retry): those are removed and added again.
   */
  async resubmit(events: readonly QueuedEvent[]): Promise<{ readded: number; submitted: number }> {
    if (events.length === 0) return { readded: 0, submitted: 0 };
    const counts = await this.perShard(events, async (queue, all) => {
      const batchIds = [...new Set(all.flatMap((event) => (event.queueJob ? [event.queueJob] : [])))];
      const batchStates = await Promise.all(batchIds.map((id) => queue.getJobState(id)));
      const queued = new Set(batchIds.filter((_, i) => LIVE_STATES.has(batchStates[i]!)));
      const group = all.filter((event) => !event.queueJob || !queued.has(event.queueJob));
      const readded = await this.ownJobs(queue, group);
      // A batch job BullMQ gave up on (stalled too often) is superseded by its events' own jobs: not left as a failure for on-call.
      await Promise.all(batchIds.filter((_, i) => batchStates[i] === 'failed').map((id) => queue.remove(id)));
      return { readded, submitted: group.length };
    });
    return { readded: counts.reduce((sum, n) => sum + n.readded, 0), submitted: counts.reduce((sum, n) => sum + n.submitted, 0) };
  }

  /**
   * For a batch job's worker: puts events the batch could not settle each in a job of its own on
   * the batch's queue (their shard), re-adding any finished job under the same id (see resubmit).
   */
  async handOver(queueName: string, events: readonly QueuedEvent[]): Promise<void> {
    const queue = this.ready().get(queueName);
    if (!queue) throw new Error(`no event queue named ${queueName}`);
    await this.ownJobs(queue, events);
  }

  /** Each event in a job of its own (by its id): finished jobs removed and added again, live ones left. Returns how many were re-added. */
  private async ownJobs(queue: Queue<AnyEventJobData>, events: readonly QueuedEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const states = await Promise.all(events.map((event) => queue.getJobState(jobIdOf(event))));
    const finished = events.filter((_, i) => states[i] === 'failed' || states[i] === 'completed');
    await Promise.all(finished.map((event) => queue.remove(jobIdOf(event))));
    await addJobs(queue, events.map(eventJob));
    return finished.length;
  }

  /** Redis is known to be unreachable: its outage is logged once for the process, so callers need not log each failure. */
  get redisDown(): boolean {
    return this.options.redisHealth.down;
  }

  /** The event queues, shard 0 first, once Redis has been reachable (for the queue UI); empty before. */
  currentQueues(): Queue<AnyEventJobData>[] {
    return this.queues ? [...this.queues.values()] : [];
  }

  /** The shard queue of that name, once Redis has been reachable. */
  queueNamed(name: string): Queue<AnyEventJobData> | undefined {
    return this.queues?.get(name);
  }

  /** Jobs by state, over every shard. */
  async jobCounts(): Promise<Record<string, number>> {
    const totals: Record<string, number> = {};
    for (const counts of Object.values(await this.jobCountsByQueue())) {
      for (const [state, n] of Object.entries(counts)) totals[state] = (totals[state] ?? 0) + n;
    }
    return totals;
  }

  /** Jobs by state, per shard queue. */
  async jobCountsByQueue(): Promise<Record<string, Record<string, number>>> {
    const queues = this.currentQueues();
    const counts = await Promise.all(queues.map((queue) => queue.getJobCounts('waiting', 'active', 'delayed', 'failed')));
    return Object.fromEntries(queues.map((queue, i) => [queue.name, counts[i]!]));
  }

  async close(): Promise<void> {
    await Promise.all(this.currentQueues().map((queue) => closeQueue(queue)));
  }
}
