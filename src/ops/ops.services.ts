import type { DataSource } from 'typeorm';
import type { RedisClient } from '../redis/connections.js';
import type { QueueLayout } from '../redis/queue-layout.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { RedisHealth } from '../events/redis-health.js';
import type { Logger } from '../shared/logger.js';
import { createTokenService } from '../access/token.service.js';
import { createAuditLog } from './audit-log.js';
import { createEventSearch } from './event-search.js';
import { createReplayService } from './replay.service.js';
import { createEventStats } from './event-stats.js';

export interface OpsServicesOptions {
  dataSource: DataSource;
  publisher: EventPublisher;
  /** The producer connection and the queues' layout, for the queue UI. */
  redis: RedisClient;
  /** Where the queue UI's queues report their errors. */
  redisHealth: RedisHealth;
  queues: QueueLayout;
  relayAfterMs: number;
  logger: Logger;
}

/** Everything the on-call and access routes need, built once by main.ts. */
export function createOpsServices(options: OpsServicesOptions) {
  const audit = createAuditLog(options.dataSource);
  return {
    audit,
    tokens: createTokenService(options.dataSource),
    events: createEventSearch(options.dataSource),
    replay: createReplayService({ dataSource: options.dataSource, publisher: options.publisher, audit, logger: options.logger }),
    eventStats: createEventStats(options.dataSource, options.relayAfterMs),
    publisher: options.publisher,
    redis: options.redis,
    redisHealth: options.redisHealth,
    queues: options.queues,
  };
}

export type OpsServices = ReturnType<typeof createOpsServices>;
