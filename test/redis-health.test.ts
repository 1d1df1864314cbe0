import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRedisHealth, REDIS_OUTAGE_LOG_INTERVAL_MS } from '../src/events/redis-health.js';
import { createMemoryLogger } from './helpers/memory-logger.js';

/** An ioredis connection as the health log sees it: a status, errors, and 'ready'. */
class FakeConnection extends EventEmitter {
  status = 'connecting';

  fail(error: Error): void {
    this.status = 'reconnecting';
    this.emit('error', error);
  }

  back(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });

describe('Redis outage log', () => {
  let clock: number;
  let lines: string[];
  let health: ReturnType<typeof createRedisHealth>;
  let connections: FakeConnection[];

  beforeEach(() => {
    clock = 1_000_000;
    const memory = createMemoryLogger('info');
    lines = memory.lines;
    health = createRedisHealth({
      redisUrl: 'redis://:hunter2@127.0.0.1:6390',
      logger: memory.logger,
      consequence: 'webhooks are still stored, the relay enqueues them once Redis is back',
      now: () => clock,
    });
    connections = ['producer', 'worker', 'payout worker'].map((role) => {
      const connection = new FakeConnection();
      health.watch(connection, role);
      return connection;
    });
  });

  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  it('writes one error line naming REDIS_URL when Redis cannot be reached, then one per interval, however many connections and queues report', () => {
    const workerErrors = health.errorListener('worker error');
    const queueErrors = health.errorListener('maintenance queue error');
    // 95 s of an outage: every connection and two BullMQ listeners report each reconnect attempt (every 2 s at most).
    for (let t = 0; t <= 95_000; t += 500) {
      clock = 1_000_000 + t;
      for (const connection of connections) connection.fail(refused());
      workerErrors(new Error('Connection is closed.'));
      queueErrors(refused());
    }
    const logged = parsed();
    assert.equal(logged.length, 1 + Math.floor(95_000 / REDIS_OUTAGE_LOG_INTERVAL_MS), 'at the start, then at 30, 60 and 90 s');
    assert.ok(logged.every((line) => line.level === 'error' && line.variable === 'REDIS_URL' && line.redis === '127.0.0.1:6390'));
    assert.equal(logged[0]!.message, 'REDIS_URL: cannot reach Redis at 127.0.0.1:6390 (connection refused); webhooks are still stored, the relay enqueues them once Redis is back');
    assert.equal(
      logged[1]!.message,
      'REDIS_URL: still cannot reach Redis at 127.0.0.1:6390 (connection refused), for 30 s now; webhooks are still stored, the relay enqueues them once Redis is back',
    );
    assert.ok(!lines.join('\n').includes('hunter2'), 'the password in REDIS_URL is never printed');
    assert.equal(health.down, true);
  });

  it('says once that Redis is reachable again, when every connection is ready', () => {
    for (const connection of connections) connection.fail(refused());
    clock += 42_000;
    connections[0]!.back();
    connections[1]!.back();
    assert.equal(health.down, true, 'the payout connection is still reconnecting');
    connections[2]!.back();
    const logged = parsed();
    assert.deepEqual(
      logged.slice(1).map((line) => [line.level, line.message]),
      [['info', 'REDIS_URL: Redis at 127.0.0.1:6390 is reachable again after 42 s']],
    );
    assert.equal(health.down, false);

    // The next outage is reported at once, not an interval after the last line.
    clock += 1000;
    connections[1]!.fail(refused());
    assert.equal(parsed().length, 3);
  });

  it('logs errors that are not about reaching Redis as they come, under the listener name', () => {
    const workerErrors = health.errorListener('worker error');
    workerErrors(new Error('ERR Error running script'));
    workerErrors(new Error('ERR Error running script'));
    assert.deepEqual(
      parsed().map((line) => [line.level, line.message, line.error]),
      [
        ['warn', 'worker error', 'ERR Error running script'],
        ['warn', 'worker error', 'ERR Error running script'],
      ],
    );
  });

  it('takes a Redis password that does not match for a wrong REDIS_URL', () => {
    connections[0]!.fail(new Error('WRONGPASS invalid username-password pair or user is disabled.'));
    assert.match(String(parsed()[0]!.message), /^REDIS_URL: cannot reach Redis at 127\.0\.0\.1:6390 \(authentication failed: check the password in REDIS_URL\)/);
  });

  it('does not take one connection dropping while the process\'s own are ready for an outage', () => {
    for (const connection of connections) connection.back();
    health.errorListener('worker error')(new Error('Connection is closed.'));
    assert.deepEqual(lines, []);
    assert.equal(health.down, false);
  });

  it('says nothing about connections closing once the process stops', () => {
    health.stop();
    for (const connection of connections) connection.fail(new Error('Connection is closed.'));
    assert.deepEqual(lines, []);
  });
});

describe('Redis outage log on a Redis Cluster', () => {
  /** An ioredis Cluster as the health log sees it: also its nodes' own failures. */
  class FakeCluster extends FakeConnection {
    readonly isCluster = true;
    nodeFails(error: Error, node: string): void {
      this.emit('node error', error, node);
    }
  }

  it('names the seed nodes, and warns once per failing node per interval while the cluster as a whole is up (a master failing over)', () => {
    let clock = 1_000_000;
    const memory = createMemoryLogger('info');
    const health = createRedisHealth({
      redisUrl: 'redis+cluster://:hunter2@10.0.0.1:7000,10.0.0.2:7001',
      logger: memory.logger,
      consequence: 'webhooks are still stored',
      now: () => clock,
      intervalMs: 30_000,
    });
    const cluster = new FakeCluster();
    health.watch(cluster, 'producer');
    cluster.back();
    for (let t = 0; t < 5_000; t += 100) {
      clock = 1_000_000 + t;
      cluster.nodeFails(refused(), '10.0.0.2:7001');
      // What a BullMQ queue on the cluster reports meanwhile: redirections that ended on the dead node.
      health.errorListener('worker error')(Object.assign(new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'), { lastNodeError: new Error('Connection is closed.') }));
      health.errorListener('worker error')(new Error('CLUSTERDOWN The cluster is down'));
    }
    const logged = memory.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      logged.map((line) => [line.level, line.message, line.node, line.reason, line.redis]),
      [['warn', 'REDIS_URL: a Redis Cluster node cannot be reached; if it is a master, its slots wait for its replica to take over (cluster-node-timeout)', '10.0.0.2:7001', 'connection refused', '10.0.0.1:7000,10.0.0.2:7001 (cluster)']],
    );
    assert.equal(health.down, false, 'the cluster is up: no outage');
    assert.ok(!memory.lines.join('\n').includes('hunter2'));
  });

  it('takes the whole cluster unreachable for an outage naming REDIS_URL and its seeds', () => {
    const memory = createMemoryLogger('info');
    const health = createRedisHealth({ redisUrl: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7001', logger: memory.logger, consequence: 'webhooks are still stored' });
    const cluster = new FakeCluster();
    health.watch(cluster, 'producer');
    cluster.fail(Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: refused() }));
    const [line] = memory.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(line!.message, 'REDIS_URL: cannot reach Redis at 10.0.0.1:7000,10.0.0.2:7001 (cluster) (connection refused); webhooks are still stored');
    assert.equal(health.down, true);
  });
});
