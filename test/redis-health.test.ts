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
