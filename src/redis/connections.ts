import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../../config/redis-url.js';
import type { RedisHealth } from '../events/redis-health.js';
import { keySlot } from './key-slot.js';

/** One Redis or a Redis Cluster: BullMQ and the health probe take either. */
export type RedisClient = Redis | Cluster;

const reconnectEvery = (times: number) => Math.min(times * 200, 2000);

export const isCluster = (client: RedisClient): client is Cluster => (client as { isCluster?: boolean }).isCluster === true;

/**
 * A client for REDIS_URL: `options` apply to each connection (on a cluster, to the connection
 * to each node), `cluster` to the cluster client itself.
 */
export function createRedisClient(target: RedisTarget, options: RedisOptions = {}, cluster: Omit<ClusterOptions, 'redisOptions'> = {}): RedisClient {
  if (target.kind === 'single') return new Redis(target.url, options);
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = options;
  return new Cluster(target.nodes, {
    clusterRetryStrategy: typeof retryStrategy === 'function' ? (times) => retryStrategy(times) ?? null : reconnectEvery,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    ...cluster,
    redisOptions: {
      ...perNode,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      // The slot map names nodes by address: with TLS, a certificate is checked against the host name
      // the client was given, so names are passed to TLS unresolved (ioredis's advice for hosted clusters).
      ...(target.tls ? { tls: {} } : {}),
    },
    ...(target.tls ? { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) } : {}),
  });
}

/**
 * Producer-side connection. The webhook route must never wait on Redis: with the offline queue
 * off, commands fail at once while Redis (or, on a cluster, the master of the command's slot) is
 * down, the event is already stored, and the relay enqueues it later.
 */
export function createProducerConnection(target: RedisTarget, redisHealth: RedisHealth): RedisClient {
  const connection = createRedisClient(
    target,
    { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: reconnectEvery },
    // A failover takes the cluster's node timeout; past a second of redirections the add is left to the relay.
    { retryDelayOnFailover: 100, retryDelayOnClusterDown: 100, maxRedirections: 10 },
  );
  redisHealth.watch(connection, 'producer');
  return connection;
}

/** Worker-side connection: BullMQ's blocking commands need maxRetriesPerRequest: null. */
export function createWorkerConnection(target: RedisTarget, redisHealth: RedisHealth, role: string): RedisClient {
  const connection = createRedisClient(target, { maxRetriesPerRequest: null, retryStrategy: reconnectEvery });
  redisHealth.watch(connection, role);
  return connection;
}

/**
 * Calls `listener` whenever queued jobs may have been lost: the connection is ready again (a
 * Redis without persistence restarts empty), or, on a cluster, a node left the client's pool (a
 * master died: writes it took but had not passed to its replica are gone after the failover).
 */
export function onJobsMayBeLost(connection: RedisClient, listener: () => void): void {
  connection.on('ready', listener);
  if (isCluster(connection)) connection.on('-node', listener);
}

/**
 * Redis answers: PING on one Redis; on a cluster, the cluster says its state is ok (every slot
 * served) and every master the client knows answers PING.
 */
export async function pingRedis(connection: RedisClient): Promise<void> {
  if (!isCluster(connection)) {
    await connection.ping();
    return;
  }
  const info = String(await connection.cluster('INFO'));
  const state = /cluster_state:(\w+)/.exec(info)?.[1];
  if (state !== 'ok') throw new Error(`cluster_state:${state ?? 'unknown'}`);
  const masters = connection.nodes('master');
  if (masters.length === 0) throw new Error('no master reachable');
  await Promise.all(masters.map((node) => node.ping()));
}

/** Every key matching `pattern`, on each master of a cluster (SCAN covers one node). */
export async function scanKeys(connection: RedisClient, pattern: string, onKeys: (keys: string[], node: Redis) => Promise<void>): Promise<void> {
  const nodes = isCluster(connection) ? connection.nodes('master') : [connection];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length) await onKeys(keys, node);
      cursor = next;
    } while (cursor !== '0');
  }
}

/** Deletes every key matching `pattern` (tests and the bench clean up their prefixes): one DEL per slot, as a cluster requires. */
export async function deleteMatching(connection: RedisClient, pattern: string): Promise<void> {
  await scanKeys(connection, pattern, async (keys, node) => {
    const bySlot = new Map<number, string[]>();
    for (const key of keys) bySlot.set(keySlot(key), [...(bySlot.get(keySlot(key)) ?? []), key]);
    for (const group of bySlot.values()) await node.del(...group);
  });
}
