import type { DataSource } from 'typeorm';
import type { Queue } from 'bullmq';
import { payoutJob, type PayoutJobData } from './payout-queue.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface PayoutDispatcherOptions {
  dataSource: DataSource;
  queue: Queue<PayoutJobData>;
  logger: Logger;
  intervalMs: number;
  batchSize?: number;
}

/**
 * Puts owed item fetches on the payout-reconciliation queue. The payout
 * handlers only record the request (items_status = 'pending') inside the
 * event's transaction, so nothing is queued for a transaction that rolls back
 * and nothing is lost when Redis or the process goes away after the commit:
 * every pass re-adds each pending request under its deterministic job id, which
 * BullMQ ignores while that job exists. Several dispatchers may run at once.
 */
export function createPayoutDispatcher(options: PayoutDispatcherOptions) {
  const batchSize = options.batchSize ?? 500;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function runOnce(): Promise<number> {
    let total = 0;
    let after = '';
    for (;;) {
      const rows = (await options.dataSource.query(
        `SELECT id, items_requested_gen FROM payouts WHERE items_status = 'pending' AND id > ? ORDER BY id LIMIT ?`,
        [after, batchSize],
      )) as { id: string; items_requested_gen: number }[];
      if (rows.length === 0) break;
      await options.queue.addBulk(rows.map((row) => payoutJob(row.id, Number(row.items_requested_gen))));
      total += rows.length;
      after = rows[rows.length - 1]!.id;
      if (rows.length < batchSize) break;
    }
    return total;
  }

  function tick(): void {
    if (running) return;
    running = runOnce()
      .catch((error) => {
        options.logger.warn('payout dispatch failed; next pass retries', { error: describeError(error) });
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
  }

  return {
    runOnce,
    start(): void {
      timer ??= setInterval(tick, options.intervalMs);
      timer.unref();
      tick();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}

export type PayoutDispatcher = ReturnType<typeof createPayoutDispatcher>;
