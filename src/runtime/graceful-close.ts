import type { Queue, Worker } from 'bullmq';
import type { RedisClient } from '../redis/connections.js';
import { withTimeout } from '../shared/with-timeout.js';
import type { Logger } from '../shared/logger.js';

/*
 * Shutdown must finish inside the process's 15 s backstop even while Redis is
 * down: a graceful close waits on Redis (a QUIT queued until it reconnects, a
 * blocking connection between reconnects: BullMQ issue #4656), so every close
 * here is bounded and then forced.
 */

/** Lets active jobs finish for up to `timeoutMs`, then forces; jobs it held come back to another worker as stalled. */
export async function closeWorker(worker: Worker, timeoutMs: number, logger: Logger): Promise<void> {
  try {
    await withTimeout(worker.close(), timeoutMs, () => new Error(`worker ${worker.name} did not close within ${timeoutMs} ms`));
  } catch (error) {
    logger.warn('forcing the worker closed', { queue: worker.name, error: (error as Error).message });
    await withTimeout(worker.close(true), 1000, () => new Error('forced close timed out')).catch(() => undefined);
  }
}

export async function closeQueue(queue: Queue, timeoutMs = 2000): Promise<void> {
  await withTimeout(queue.close(), timeoutMs, () => new Error('queue close timed out')).catch(() => queue.disconnect().catch(() => undefined));
}

/** QUIT when Redis answers (pending replies drain), otherwise just drop the socket. */
export async function closeRedis(connection: RedisClient, timeoutMs = 2000): Promise<void> {
  if (connection.status !== 'ready') return connection.disconnect();
  await withTimeout(connection.quit(), timeoutMs, () => new Error('QUIT timed out')).catch(() => connection.disconnect());
}
