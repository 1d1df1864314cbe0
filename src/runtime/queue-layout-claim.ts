import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { DataSource } from 'typeorm';
import { withRunLock } from '../sync/run-lock.js';
import { describeError, EX_CONFIG, StartupError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** How often a process says it is still running, and after how long without a word it is taken as gone (killed, not stopped). */
export const HEARTBEAT_MS = 10_000;
export const GONE_AFTER_MS = 30_000;

interface ProcessRow {
  queue_shards: number;
  role: string;
  host: string;
  pid: number;
  seen_ago_ms: number | string;
}

export interface QueueLayoutClaim {
  /** Stops the heartbeat and forgets this process (a graceful stop frees the layout at once). */
  release(): Promise<void>;
}

/**
 * Every process on one QUEUE_PREFIX must agree on QUEUE_SHARDS: an API putting events in 4
 * shards while the workers read 2 leaves half the events waiting in queues nobody reads, and its
 * relay keeps re-adding them to the same unread shards. Nothing in Redis says how many shards a
 * queue has, so each process records its layout in the database (which every process reaches
 * at start, unlike Redis) with a heartbeat, and a process whose QUEUE_SHARDS differs from a
 * running one's refuses to start (EX_CONFIG), naming them. Changing QUEUE_SHARDS is therefore
 * stop all, start all: events already queued in a shard the new layout drops are still
 * `received` in the inbox, and the relay's first pass after start queues them again where they
 * now belong.
 */
export async function claimQueueLayout(
  dataSource: DataSource,
  layout: { prefix: string; shards: number; role: string },
  logger: Logger,
): Promise<QueueLayoutClaim> {
  const id = randomBytes(12).toString('hex');
  const claimed = await withRunLock(dataSource, `queue-layout:${layout.prefix}`, 10, async () => {
    await dataSource.query('DELETE FROM queue_processes WHERE seen_at < NOW(3) - INTERVAL ? MICROSECOND', [GONE_AFTER_MS * 1000]);
    const others = await disagreeing(dataSource, layout);
    if (others.length > 0) throw mismatch(layout, others);
    await dataSource.query(
      'INSERT INTO queue_processes (id, queue_prefix, queue_shards, role, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, NOW(3), NOW(3))',
      [id, layout.prefix, layout.shards, layout.role, hostname().slice(0, 255), process.pid],
    );
  });
  if (!claimed.ran) throw new StartupError(`Another process held the queue layout check of QUEUE_PREFIX "${layout.prefix}" for 10 s: start again.`, { variable: 'QUEUE_SHARDS', exitCode: EX_CONFIG });

  // The heartbeat also looks again: a process that was taken for gone (no heartbeat for 30 s: a
  // database failover, a stalled event loop) while another started with other shards comes back to a
  // conflict no start-up saw. It cannot be undone from here, so it is said loudly, once a minute.
  let lastWarned = 0;
  const beat = async () => {
    await dataSource.query(
      `INSERT INTO queue_processes (id, queue_prefix, queue_shards, role, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, NOW(3), NOW(3))
       ON DUPLICATE KEY UPDATE seen_at = NOW(3)`,
      [id, layout.prefix, layout.shards, layout.role, hostname().slice(0, 255), process.pid],
    );
    const others = await disagreeing(dataSource, layout);
    if (others.length > 0 && Date.now() - lastWarned >= 60_000) {
      lastWarned = Date.now();
      logger.error('queue layout conflict: processes on this QUEUE_PREFIX use other QUEUE_SHARDS, so some events wait in shards no worker reads; restart every process with one value', {
        queuePrefix: layout.prefix,
        queueShards: layout.shards,
        others: others.map((row) => `${row.role} pid ${row.pid} on ${row.host}: QUEUE_SHARDS=${row.queue_shards}`),
      });
    }
  };
  const timer = setInterval(() => {
    // A database outage only delays the heartbeat; the row is written again once it is back.
    beat().catch((error: unknown) => logger.debug('queue layout heartbeat failed', { error: describeError(error) }));
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await dataSource.query('DELETE FROM queue_processes WHERE id = ?', [id]).catch(() => undefined);
    },
  };
}

/** The processes seen within GONE_AFTER_MS on this prefix whose QUEUE_SHARDS differs. */
const disagreeing = async (dataSource: DataSource, layout: { prefix: string; shards: number }) =>
  (await dataSource.query(
    `SELECT queue_shards, role, host, pid, TIMESTAMPDIFF(MICROSECOND, seen_at, NOW(3)) DIV 1000 AS seen_ago_ms
       FROM queue_processes WHERE queue_prefix = ? AND queue_shards <> ? AND seen_at >= NOW(3) - INTERVAL ? MICROSECOND ORDER BY seen_at DESC`,
    [layout.prefix, layout.shards, GONE_AFTER_MS * 1000],
  )) as ProcessRow[];

function mismatch(layout: { prefix: string; shards: number }, others: ProcessRow[]): StartupError {
  const shown = others
    .slice(0, 5)
    .map((row) => `${row.role} pid ${row.pid} on ${row.host} with QUEUE_SHARDS=${row.queue_shards}, seen ${Math.round(Number(row.seen_ago_ms) / 1000)} s ago`);
  const lines = [
    `QUEUE_SHARDS=${layout.shards}, but ${others.length} running process${others.length === 1 ? '' : 'es'} on QUEUE_PREFIX "${layout.prefix}" use${others.length === 1 ? 's' : ''} another number of shards: ${shown.join('; ')}${others.length > 5 ? '; …' : ''}.`,
    'Processes that disagree would leave events waiting in shards no worker reads.',
    `Fix: start this process with the QUEUE_SHARDS of the running ones; or, to change it, stop every API and worker on "${layout.prefix}" and start them all with the new value`,
    '(events already queued in a shard that is dropped are queued again by the relay once they start).',
    `A process killed without stopping is forgotten ${GONE_AFTER_MS / 1000} s after it was last seen.`,
  ];
  return new StartupError(lines.join('\n'), { variable: 'QUEUE_SHARDS', exitCode: EX_CONFIG });
}
