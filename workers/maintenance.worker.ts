import { Queue, Worker } from 'bullmq';
import type { RedisClient } from '../src/redis/connections.js';
import type { DataSource } from 'typeorm';
import { MAINTENANCE_QUEUE_NAME, PURGE_SCHEDULER_ID, purgeSettledEvents } from '../src/ops/retention.js';
import type { AuditLog } from '../src/ops/audit-log.js';
import { runWithContext } from '../src/shared/context.js';
import { describeError } from '../src/shared/errors.js';
import type { Logger } from '../src/shared/logger.js';
import type { RedisHealth } from '../src/events/redis-health.js';
import { closeQueue, closeWorker } from '../src/runtime/graceful-close.js';

export interface MaintenanceOptions {
  connection: RedisClient;
  prefix: string;
  dataSource: DataSource;
  audit: AuditLog;
  logger: Logger;
  redisHealth: RedisHealth;
  retentionDays: number;
  intervalMs: number;
}

/**
 * The maintenance queue: a BullMQ job scheduler produces one purge job per
 * interval (upserting it from every worker process is idempotent, and only one
 * job per interval exists however many workers run), and this worker runs it.
 */
export function createMaintenanceWorker(options: MaintenanceOptions): { worker: Worker; queue: Queue; close(timeoutMs?: number): Promise<void> } {
  const { logger } = options;
  const queue = new Queue(MAINTENANCE_QUEUE_NAME, {
    connection: options.connection,
    prefix: options.prefix,
    defaultJobOptions: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  });
  queue.on('error', options.redisHealth.errorListener('maintenance queue error'));
  // Not awaited: with Redis down at start-up this completes once it is back, and start() is not held up.
  queue
    .upsertJobScheduler(PURGE_SCHEDULER_ID, { every: options.intervalMs }, { name: PURGE_SCHEDULER_ID, data: {} })
    .catch((error: unknown) => logger.warn('could not schedule the retention purge', { error: describeError(error) }));

  const worker = new Worker(
    MAINTENANCE_QUEUE_NAME,
    (job) =>
      runWithContext({ jobId: job.id }, async () => {
        if (job.name !== PURGE_SCHEDULER_ID) throw new Error(`no maintenance task named ${job.name}`);
        const olderThan = new Date(Date.now() - options.retentionDays * 86_400_000);
        const purged = await purgeSettledEvents({ dataSource: options.dataSource, audit: options.audit, logger, olderThan });
        return { purged };
      }),
    { connection: options.connection, prefix: options.prefix, concurrency: 1 },
  );
  worker.on('error', options.redisHealth.errorListener('maintenance worker error'));
  worker.on('failed', (job, error) => logger.warn('maintenance job failed', { job: job?.name, error: error.message }));
  return {
    worker,
    queue,
    async close(timeoutMs = 10_000) {
      await closeWorker(worker, timeoutMs, logger);
      await closeQueue(queue);
    },
  };
}
