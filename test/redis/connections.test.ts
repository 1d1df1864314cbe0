import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import { redisTarget } from '../../config/redis-url.js';
import { createProducerConnection, createWorkerConnection, deleteMatching, onJobsMayBeLost, pingRedis, type RedisClient } from '../../src/redis/connections.js';
import { createRedisHealth } from '../../src/events/redis-health.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';
import { REDIS_URL } from '../helpers/test-database.js';
import { freePort } from '../helpers/free-port.js';

describe('Redis connections', () => {
  const opened: RedisClient[] = [];
  afterEach(() => {
    for (const connection of opened.splice(0)) connection.disconnect();
  });
  const health = (url: string) => createRedisHealth({ redisUrl: url, logger: createMemoryLogger('error').logger, consequence: 'test' });

  it('on a cluster URL, makes ioredis Cluster clients: the producer fails fast (no offline queue), workers wait (maxRetriesPerRequest null), credentials and TLS on every node', async () => {
    const url = `rediss+cluster://app:s3cret@127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    const producer = createProducerConnection(redisTarget(url), health(url));
    const worker = createWorkerConnection(redisTarget(url), health(url), 'worker');
    opened.push(producer, worker);
    assert.ok(producer instanceof Cluster && worker instanceof Cluster);
    assert.equal(producer.options.enableOfflineQueue, false);
    assert.equal(producer.options.redisOptions?.maxRetriesPerRequest, 1);
    assert.equal(worker.options.redisOptions?.maxRetriesPerRequest, null);
    for (const client of [producer, worker]) {
      assert.deepEqual([client.options.redisOptions?.username, client.options.redisOptions?.password, client.options.redisOptions?.tls], ['app', 's3cret', {}]);
    }
    // One Redis stays one Redis.
    const single = createProducerConnection(redisTarget(REDIS_URL), health(REDIS_URL));
    opened.push(single);
    assert.ok(single instanceof Redis);
    assert.equal(single.options.enableOfflineQueue, false);
  });

  it('tells the relay to look at every stored event when jobs may have been lost: Redis ready again, or a cluster node dropped (a master failed over)', () => {
    let calls = 0;
    const single = Object.assign(new EventEmitter(), { isCluster: false }) as unknown as RedisClient;
    onJobsMayBeLost(single, () => (calls += 1));
    single.emit('ready');
    single.emit('-node');
    assert.equal(calls, 1, 'one Redis: its ready event only');
    const cluster = Object.assign(new EventEmitter(), { isCluster: true }) as unknown as RedisClient;
    onJobsMayBeLost(cluster, () => (calls += 1));
    cluster.emit('-node');
    cluster.emit('ready');
    assert.equal(calls, 3);
  });

  it('pings and deletes by pattern on one Redis', async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    opened.push(redis);
    const prefix = `billed-test-conn-${process.pid}`;
    await redis.mset(`${prefix}:a`, '1', `${prefix}:b`, '2', `${prefix}x:c`, '3');
    await pingRedis(redis);
    await deleteMatching(redis, `${prefix}:*`);
    assert.deepEqual(await redis.mget(`${prefix}:a`, `${prefix}:b`, `${prefix}x:c`), [null, null, '3']);
    await redis.del(`${prefix}x:c`);
  });
});
