// Run by test/sync/catch-up-memory.test.ts as a process of its own, with --expose-gc: a catch-up of
// the default account (STRIPE_SECRET_KEY, against STRIPE_API_BASE) into DATABASE_URL, as a worker
// process runs it, sampling the heap after a full GC every few pages. Prints one JSON line.
import { loadConfig } from '../../config/env.schema.js';
import { createDataSource, ensureDatabase } from '../../src/db/data-source.js';
import { migrate } from '../../src/db/migrate.js';
import { createProducerConnection } from '../../src/redis/connections.js';
import { queueSetup } from '../../src/runtime/core-services.js';
import { EventPublisher } from '../../src/events/event-publisher.js';
import { Ingestor } from '../../src/events/ingest.js';
import { createRedisHealth } from '../../src/events/redis-health.js';
import { SUBSCRIBED_EVENT_TYPES } from '../../src/events/subscribed-events.js';
import { createStripeClients } from '../../src/stripe/stripe-clients.js';
import { createMetrics } from '../../src/shared/metrics.js';
import { createLogger } from '../../src/shared/logger.js';
import { createCatchUp } from '../../src/sync/catch-up.service.js';
import { createSyncState } from '../../src/sync/sync-state.js';
import { closeRedis } from '../../src/runtime/graceful-close.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heapMb = () => {
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

const config = loadConfig();
const logger = createLogger('warn');
await ensureDatabase(config.DATABASE_URL);
const dataSource = createDataSource(config.DATABASE_URL);
await dataSource.initialize();
await migrate(dataSource);
const redisHealth = createRedisHealth({ logger, redisUrl: config.REDIS_URL, consequence: 'the probe stops' });
const { redis: target, queues } = queueSetup(config);
const redis = createProducerConnection(target, redisHealth);
await new Promise((resolve) => redis.once('ready', resolve));
const publisher = new EventPublisher({ connection: redis, redisHealth, layout: queues, attempts: 1, backoffMs: 1000 });
const catchUp = createCatchUp({
  dataSource,
  ingestor: new Ingestor({ dataSource, publisher, logger, metrics: createMetrics() }),
  stripeClients: createStripeClients({ apiBase: config.STRIPE_API_BASE, defaultKey: config.STRIPE_SECRET_KEY, accountKey: async () => null }),
  syncState: createSyncState(dataSource),
  logger,
  stripe: { apiBase: config.STRIPE_API_BASE },
  maxRps: config.CATCH_UP_MAX_RPS,
  subscribedTypes: SUBSCRIBED_EVENT_TYPES,
});

// Everything the run needs is loaded: one page through first, so code paths warm up, then the baseline.
let pages = 0;
let baselineMb = 0;
let peakMb = 0;
const samples: number[] = [];
const outcome = await catchUp.run({
  accountId: null,
  trigger: 'operator',
  since: new Date(Date.now() - 86_400_000),
  onProgress(progress) {
    if (progress.listed === 0) return;
    pages += 1;
    if (pages === 1) baselineMb = heapMb();
    else if (pages % 25 === 0) {
      const mb = heapMb();
      samples.push(Math.round(mb * 10) / 10);
      peakMb = Math.max(peakMb, mb);
    }
  },
});
const finalMb = heapMb();
await publisher.close();
await closeRedis(redis);
redisHealth.stop();
await dataSource.destroy();
console.log(JSON.stringify({ outcome, pages, baselineMb, peakMb: Math.max(peakMb, finalMb), finalMb, samples }));
