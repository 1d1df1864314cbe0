import type { DataSource } from 'typeorm';
import type { InboxStats } from '../shared/metrics.js';

/**
 * The inbox numbers alerts watch, in one query over idx_stripe_events_status_received.
 * Several gauges read them per scrape, so one result is shared for `cacheMs`.
 */
export function createEventStats(dataSource: DataSource, relayAfterMs: number, cacheMs = 1000): () => Promise<InboxStats> {
  let cached: { at: number; value: Promise<InboxStats> } | undefined;
  const load = async (): Promise<InboxStats> => {
    const [row] = (await dataSource.query(
      `SELECT
         (SELECT COUNT(*) FROM stripe_events WHERE status = 'failed') AS failed,
         (SELECT TIMESTAMPDIFF(MICROSECOND, MIN(received_at), NOW(3)) FROM stripe_events WHERE status = 'received') AS oldest_us,
         (SELECT COUNT(*) FROM stripe_events WHERE status = 'received' AND received_at < NOW(3) - INTERVAL ? MICROSECOND) AS backlog`,
      [relayAfterMs * 1000],
    )) as { failed: string | number; oldest_us: string | number | null; backlog: string | number }[];
    return {
      failed: Number(row?.failed ?? 0),
      oldestReceivedAgeSeconds: row?.oldest_us == null ? 0 : Math.max(0, Number(row.oldest_us) / 1e6),
      relayBacklog: Number(row?.backlog ?? 0),
    };
  };
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at > cacheMs) {
      cached = { at: now, value: load() };
      cached.value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
}
