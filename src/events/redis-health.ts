import { redisTarget } from '../../config/redis-url.js';
import type { Logger } from '../shared/logger.js';
import { connectionFailureReason } from '../shared/network-errors.js';
import { rateLimitedLog } from '../shared/rate-limited-log.js';

/** While Redis stays unreachable, the outage is logged again this often (not once per reconnect attempt). */
export const REDIS_OUTAGE_LOG_INTERVAL_MS = 30_000;

/** What is needed of an ioredis connection: its state, its errors, and when it is ready again. */
export interface WatchedConnection {
  readonly status: string;
  /** Set on an ioredis Cluster, which also reports each node's failures ('node error', with the node's host:port). */
  readonly isCluster?: boolean;
  on(event: 'error' | 'ready', listener: (error: Error) => void): unknown;
  on(event: 'node error', listener: (error: Error, node: string) => void): unknown;
}

export interface RedisHealthOptions {
  redisUrl: string;
  logger: Logger;
  /** What the outage means for this process, e.g. that webhooks are still stored. */
  consequence: string;
  intervalMs?: number;
  now?: () => number;
}

export type RedisHealth = ReturnType<typeof createRedisHealth>;

/** A Redis password that does not match is as much a wrong REDIS_URL as a wrong host. */
const AUTH_FAILURE = /^(WRONGPASS|NOAUTH)\b|invalid (username-)?password/i;

/** A Redis Cluster that cannot serve a slot: a master is down and no replica has taken over (yet). */
const CLUSTER_DOWN = /CLUSTERDOWN|Failed to refresh slots cache|None of startup nodes is available/;

/** ioredis's cluster errors carry the last node's own error ('Too many Cluster redirections. Last error: …'). */
const lastNodeError = (error: Error): unknown => (error as { lastNodeError?: unknown }).lastNodeError;

/**
 * One view of Redis for the whole process. Every connection it opens (producer,
 * event worker, payout worker…) and every BullMQ Queue and Worker on them reports
 * its errors here: while Redis cannot be reached, that is one error line naming
 * REDIS_URL and the address when the outage starts, one per interval while it
 * lasts, and one info line when every connection is ready again, instead of a
 * warning from each of them on each reconnect attempt (ioredis retries every
 * 2 s, and each BullMQ Queue or Worker repeats its connection's errors).
 * Errors that are not about reaching Redis are logged as they come.
 */
export function createRedisHealth(options: RedisHealthOptions) {
  const { logger, consequence } = options;
  const intervalMs = options.intervalMs ?? REDIS_OUTAGE_LOG_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const target = redisTarget(options.redisUrl);
  const { address } = target;
  const fields = { variable: 'REDIS_URL', redis: address };
  const watched: WatchedConnection[] = [];
  let outage: { since: number; lastLineAt: number; errors: number } | undefined;
  let stopped = false;

  const seconds = (ms: number) => Math.round(ms / 1000);
  const reasonOf = (error: Error): string | undefined =>
    connectionFailureReason(error, target.host) ??
    connectionFailureReason(lastNodeError(error), target.host) ??
    (AUTH_FAILURE.test(error.message) ? 'authentication failed: check the password in REDIS_URL' : undefined) ??
    (CLUSTER_DOWN.test(error.message) || CLUSTER_DOWN.test(String((lastNodeError(error) as Error | undefined)?.message)) ? 'the cluster cannot serve every slot: a master is down' : undefined);
  // A cluster node failing while the cluster as a whole is up: one warning per node per interval.
  const nodeFailed = rateLimitedLog(logger, { level: 'warn', message: 'REDIS_URL: a Redis Cluster node cannot be reached; if it is a master, its slots wait for its replica to take over (cluster-node-timeout)', keyField: 'node', intervalMs });
  // A closing connection ('end') is not waited for.
  const allReady = () => watched.every((connection) => connection.status === 'ready' || connection.status === 'end');

  function report(error: Error, source: string, otherwise: string): void {
    if (stopped) return;
    const reason = reasonOf(error);
    if (reason === undefined) {
      logger.warn(otherwise, { error: error.message });
      return;
    }
    const at = now();
    if (!outage) {
      // One connection dropped (a BullMQ blocking connection, say) while this process's own are up: it
      // reconnects by itself; a real outage shows on the watched connections too.
      if (watched.length > 0 && allReady()) {
        logger.debug('a Redis connection failed and reconnects', { ...fields, source, reason });
        return;
      }
      outage = { since: at, lastLineAt: at, errors: 1 };
      logger.error(`REDIS_URL: cannot reach Redis at ${address} (${reason}); ${consequence}`, { ...fields, reason, source });
      return;
    }
    outage.errors += 1;
    if (at - outage.lastLineAt >= intervalMs) {
      logger.error(`REDIS_URL: still cannot reach Redis at ${address} (${reason}), for ${seconds(at - outage.since)} s now; ${consequence}`, {
        ...fields,
        reason,
        source,
        downForMs: at - outage.since,
        errorsSinceLastLine: outage.errors,
      });
      outage.lastLineAt = at;
      outage.errors = 0;
    }
  }

  function ready(): void {
    if (!outage || stopped || !allReady()) return;
    const downForMs = now() - outage.since;
    outage = undefined;
    logger.info(`REDIS_URL: Redis at ${address} is reachable again after ${seconds(downForMs)} s`, { ...fields, downForMs });
  }

  return {
    /** Follows a connection this process opened: its errors, and its coming back. */
    watch(connection: WatchedConnection, role: string): void {
      watched.push(connection);
      connection.on('error', (error) => report(error, role, 'redis error'));
      connection.on('ready', ready);
      if (connection.isCluster) {
        connection.on('node error', (error, node) => {
          if (stopped) return;
          const reason = reasonOf(error);
          if (reason) nodeFailed(node, { ...fields, source: role, reason });
          else logger.warn('redis cluster node error', { node, source: role, error: error.message });
        });
      }
    },
    /** The 'error' listener for a BullMQ Queue or Worker: other errors are logged as `message`. */
    errorListener(message: string): (error: Error) => void {
      return (error) => report(error, message, message);
    },
    /** True from the outage's first error line until every connection is ready again. */
    get down(): boolean {
      return outage !== undefined;
    },
    /** The process is stopping: connections closing now are not an outage. */
    stop(): void {
      stopped = true;
      nodeFailed.flush();
    },
  };
}
