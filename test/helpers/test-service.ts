import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import mysql from 'mysql2/promise';
import supertest from 'supertest';
import { loadConfig, type Config } from '../../config/env.schema.js';
import { start, type Service, type StartOptions } from '../../src/main.js';
import { queueSetup } from '../../src/runtime/core-services.js';
import { createRedisClient, deleteMatching } from '../../src/redis/connections.js';
import { redisTarget } from '../../config/redis-url.js';
import { createMemoryLogger } from './memory-logger.js';
import { REDIS_URL, TEST_DATABASE_URL, trackDatabase } from './test-database.js';
import { TEST_WEBHOOK_SECRET } from './stripe-events.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_ENCRYPTION_KEY = 'ab'.repeat(32);

export interface TestService {
  service: Service;
  config: Config;
  http: ReturnType<typeof supertest>;
  baseUrl: string;
  /** Every JSON log line the service wrote. */
  logs: string[];
  /** Reads the inbox directly, as a DBA would. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The event queue (its first shard, stripe-events), for counting jobs. */
  queue: Queue;
  /** Every shard of the event queue (QUEUE_SHARDS), shard 0 first. */
  queues: Queue[];
  stop(): Promise<void>;
}

/**
 * The real service, in-process on a free port, against real MySQL and Redis:
 * its own Redis key prefix, and the run's database unless one is given.
 */
export async function startTestService(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestService> {
  const prefix = `billed-test-${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    // One key for every service of the run: they share its database, and a service refuses to start
    // when it cannot decrypt the Stripe keys stored there.
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    JOB_BACKOFF_MS: '20',
    JOB_ATTEMPTS: '3',
    WORKER_CONCURRENCY: '8',
    RELAY_INTERVAL_MS: '200',
    RELAY_AFTER_MS: '300',
    LOG_LEVEL: 'debug',
    // Automatic catch-up off: a test that wants it turns it on (it would list every connected account's events at start).
    CATCH_UP_INTERVAL_MS: '0',
    ...env,
  });
  trackDatabase(config.DATABASE_URL);
  const { logger, lines } = createMemoryLogger();
  const service = await start(config, { logger, ...options });
  const baseUrl = `http://127.0.0.1:${service.port ?? 0}`;
  const db = await mysql.createConnection(config.DATABASE_URL);
  const layout = queueSetup(config).queues;
  const queueConnection = createRedisClient(redisTarget(config.REDIS_URL), { maxRetriesPerRequest: null, lazyConnect: true });
  const queues = layout.eventQueues.map((name) => new Queue(name, { connection: queueConnection, prefix: layout.prefixOf(name) }));

  return {
    service,
    config,
    http: supertest(baseUrl),
    baseUrl,
    logs: lines,
    async query(sql, params) {
      const [rows] = await db.query(sql, params);
      return rows as never;
    },
    queue: queues[0]!,
    queues,
    async stop() {
      await service.stop();
      await Promise.all(queues.map((queue) => queue.close()));
      // BullMQ leaves a connection it was given open.
      queueConnection.disconnect();
      await deleteKeys(config.REDIS_URL, `${prefix}:*`);
      if (layout.cluster) await deleteKeys(config.REDIS_URL, `{${prefix}:*`);
      await db.end();
    },
  };
}

/** Tests share the machine's Redis: leave nothing behind (on a cluster, on every master). */
export async function deleteKeys(redisUrl: string, pattern: string): Promise<void> {
  const redis = createRedisClient(redisTarget(redisUrl), { maxRetriesPerRequest: 1 });
  try {
    if (redis.status !== 'ready') await new Promise((resolve, reject) => redis.once('ready', resolve).once('error', reject));
    await deleteMatching(redis, pattern);
  } finally {
    redis.disconnect();
  }
}
