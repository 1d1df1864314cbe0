import type { DataSource } from 'typeorm';
import type { EventPublisher } from './event-publisher';
import { describeError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { Metrics } from '../shared/metrics';

export interface RelayOptions {
  dataSource: DataSource;
  publisher: EventPublisher;
  logger: Logger;
  metrics: Metrics;
  intervalMs: number;
  /** Only events still `received` after this long: younger ones are normally just waiting their turn. */
  afterMs: number;
  batchSize?: number;
}

/**
 * Re-enqueues stored events that never reached the queue (Redis was down when
 * they arrived, or the process died between storing and enqueueing). Adding a
 * job whose id exists is a no-op in BullMQ, so events that are merely waiting
 * are not duplicated, and several relays may run at once.
 */
export function createRelay(options: RelayOptions) {
  const batchSize = options.batchSize ?? 500;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function runOnce(): Promise<number> {
    let total = 0;
    let after = '';
    for (;;) {
      const rows: { id: string; type: string }[] = await options.dataSource.query(
        `SELECT id, type FROM stripe_events
          WHERE status = 'received' AND received_at < NOW(3) - INTERVAL ? MICROSECOND AND id > ?
          ORDER BY id LIMIT ?`,
        [options.afterMs * 1000, after, batchSize],
      );
      if (rows.length === 0) break;
      await options.publisher.publish(rows);
      total += rows.length;
      after = rows[rows.length - 1]!.id;
      if (rows.length < batchSize) break;
    }
    if (total > 0) {
      options.metrics.relayed.inc(total);
      options.logger.info('relay re-enqueued stored events', { count: total });
    }
    return total;
  }

  function tick(): void {
    if (running) return;
    running = runOnce()
      .catch((error) => {
        options.logger.warn('relay pass failed; next pass retries', { error: describeError(error) });
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
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}

export type Relay = ReturnType<typeof createRelay>;
