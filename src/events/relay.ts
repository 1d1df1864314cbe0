import type { DataSource } from 'typeorm';
import type { EventPublisher } from './event-publisher.js';
import { routingKeyOfPayload } from './routing-key.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';

export interface RelayOptions {
  dataSource: DataSource;
  publisher: EventPublisher;
  logger: Logger;
  metrics: Metrics;
  intervalMs: number;
  /** Only events still `received` after this long: younger ones are normally just waiting their turn. */
  afterMs: number;
  batchSize?: number;
  /** Even without a Redis reconnect, look over the whole backlog this often. */
  fullScanEveryMs?: number;
}

/**
 * Re-enqueues stored events that never reached the queue (Redis was down when
 * they arrived, or the process died between storing and enqueueing). Adding a
 * job whose id exists is a no-op in BullMQ, so events that are merely waiting
 * are not duplicated, and several relays may run at once.
 *
 * A pass only looks at events that aged past `afterMs` since the last pass (a
 * watermark), so a long backlog is not walked again every interval. Everything
 * is looked at again after Redis reconnects (a restarted Redis may have lost
 * jobs) and every `fullScanEveryMs`.
 */
export function createRelay(options: RelayOptions) {
  const batchSize = options.batchSize ?? 500;
  const fullScanEveryMs = options.fullScanEveryMs ?? 10 * 60_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let watermark: Date | null = null;
  let lastFullScan = 0;

  async function runOnce(): Promise<number> {
    if (Date.now() - lastFullScan > fullScanEveryMs) watermark = null;
    const from = watermark;
    if (from === null) lastFullScan = Date.now();
    // The database's clock, not ours: received_at was written by it.
    const [{ cutoff }] = (await options.dataSource.query('SELECT NOW(3) - INTERVAL ? MICROSECOND AS cutoff', [options.afterMs * 1000])) as [
      { cutoff: Date },
    ];
    let total = 0;
    // Keyset over the whole key: copies of one event for two accounts, stored by one INSERT, share (received_at, id).
    // MariaDB ranges over `received_at >= ?`, not over a row comparison; the latter only drops the page's first rows.
    let after = { at: from ?? new Date(0), id: '', scope: '' };
    for (;;) {
      const rows: { id: string; accountId: string | null; account_scope: string; type: string; payload: string; queue_job: string | null; received_at: Date }[] = await options.dataSource.query(
        // The payload, for the shard: the payment the event is about picks it, as it did when the event was delivered.
        `SELECT id, account_id AS accountId, account_scope, type, payload, queue_job, received_at FROM stripe_events
          WHERE status = 'received' AND received_at < ? AND received_at >= ? AND (received_at, id, account_scope) > (?, ?, ?)
          ORDER BY received_at, id, account_scope LIMIT ?`,
        [cutoff, after.at, after.at, after.id, after.scope, batchSize],
      );
      if (rows.length === 0) break;
      const { submitted } = await options.publisher.resubmit(
        rows.map((row) => ({ id: row.id, accountId: row.accountId, type: row.type, routingKey: routingKeyOfPayload(row.payload), queueJob: row.queue_job })),
      );
      // Events whose batch job is still waiting or running are not counted: they are queued.
      total += submitted;
      const last = rows[rows.length - 1]!;
      after = { at: last.received_at, id: last.id, scope: last.account_scope };
      if (rows.length < batchSize) break;
    }
    watermark = cutoff;
    if (total > 0) {
      options.metrics.relayed.inc(total);
      options.logger.info('relay re-enqueued stored events', { count: total, fullScan: from === null });
    }
    return total;
  }

  function tick(): void {
    if (running) return;
    running = runOnce()
      .catch((error) => {
        // What this pass did not reach must not fall behind the watermark.
        watermark = null;
        // During a Redis outage the process logs that once per interval, relay or not.
        options.logger.log(options.publisher.redisDown ? 'debug' : 'warn', 'relay pass failed; next pass looks at everything again', { error: describeError(error) });
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
  }

  return {
    runOnce,
    /** Look over every stored event again on the next pass (call when Redis reconnects). */
    rescan(): void {
      watermark = null;
    },
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
