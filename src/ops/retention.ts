import type { DataSource } from 'typeorm';
import type { Logger } from '../shared/logger.js';
import { SYSTEM_ACTOR, type AuditLog } from './audit-log.js';

/** The queue of housekeeping jobs, and the job scheduler that produces the purge. */
export const MAINTENANCE_QUEUE_NAME = 'maintenance';
export const PURGE_SCHEDULER_ID = 'purge-settled-events';

export interface PurgeOptions {
  dataSource: DataSource;
  audit: AuditLog;
  logger: Logger;
  /** Settled events received before this are purged. */
  olderThan: Date;
  batchSize?: number;
}

/**
 * Retention: deletes processed and ignored events received before `olderThan`,
 * with their history, a batch per short statement so the inbox is never
 * locked for long. Failed (and received) events are kept: they are work
 * on-call still owes. Ages count from `received_at`, which
 * idx_stripe_events_status_received serves for both settled statuses.
 */
export async function purgeSettledEvents(options: PurgeOptions): Promise<number> {
  const { dataSource } = options;
  const batchSize = options.batchSize ?? 1000;
  let purged = 0;
  for (;;) {
    const rows = (await dataSource.query(
      "SELECT id, account_scope FROM stripe_events WHERE status IN ('processed', 'ignored') AND received_at < ? LIMIT ?",
      [options.olderThan, batchSize],
    )) as { id: string; account_scope: string }[];
    if (rows.length === 0) break;
    // Events are keyed by (id, account scope): another account's copy of the same id has its own age and status.
    const keys = rows.map((row) => [row.id, row.account_scope]);
    // The status is checked again: an event a replay reset meanwhile is no longer settled and stays.
    const result = (await dataSource.query("DELETE FROM stripe_events WHERE (id, account_scope) IN (?) AND status IN ('processed', 'ignored')", [
      keys,
    ])) as {
      affectedRows?: number;
    };
    purged += Number(result.affectedRows ?? 0);
    // History goes with its event, and only with an event that is really gone.
    for (const table of ['event_attempts', 'event_replays']) {
      await dataSource.query(
        `DELETE h FROM ${table} h LEFT JOIN stripe_events e ON e.id = h.event_id AND e.account_scope = h.account_scope
          WHERE (h.event_id, h.account_scope) IN (?) AND e.id IS NULL`,
        [keys],
      );
    }
    if (rows.length < batchSize) break;
  }
  if (purged > 0) {
    await options.audit.record({
      actor: SYSTEM_ACTOR,
      action: 'events.purge',
      count: purged,
      details: { statuses: ['processed', 'ignored'], receivedBefore: options.olderThan.toISOString() },
    });
    options.logger.info('retention purged settled events', { purged, receivedBefore: options.olderThan.toISOString() });
  }
  return purged;
}
