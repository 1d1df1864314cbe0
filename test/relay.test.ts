import assert from 'node:assert/strict';
import { createDataSource } from '../src/db/data-source.js';
import { createRelay } from '../src/events/relay.js';
import type { EventPublisher } from '../src/events/event-publisher.js';
import { createMetrics } from '../src/shared/metrics.js';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { startTestService } from './helpers/test-service.js';
import { uniqueDatabaseUrl, trackDatabase } from './helpers/test-database.js';

describe('relay', () => {
  it('re-enqueues events stored but never queued, walks a backlog once, and everything again after a rescan', async () => {
    const databaseUrl = uniqueDatabaseUrl('relay');
    trackDatabase(databaseUrl);
    // Start (and stop) the service once so the database exists and is migrated.
    await (await startTestService({ DATABASE_URL: databaseUrl, ROLE: 'api' })).stop();
    const dataSource = createDataSource(databaseUrl);
    await dataSource.initialize();
    try {
      const ids = Array.from({ length: 7 }, (_, i) => `evt_relay_${i}`);
      for (const id of ids) {
        await dataSource.query(
          `INSERT INTO stripe_events (id, type, livemode, stripe_created, payload, ingest_batch, received_at)
           VALUES (?, 'charge.succeeded', 0, 1, '{}', 'test', NOW(3) - INTERVAL 10 MINUTE)`,
          [id],
        );
      }
      await dataSource.query(
        `INSERT INTO stripe_events (id, type, livemode, stripe_created, payload, ingest_batch, status) VALUES ('evt_relay_done', 'x', 0, 1, '{}', 'test', 'processed')`,
      );
      const published: string[] = [];
      const publisher = {
        resubmit: async (rows: { id: string }[]) => (published.push(...rows.map((r) => r.id)), { readded: 0, submitted: rows.length }),
      } as unknown as EventPublisher;
      const relay = createRelay({ dataSource, publisher, logger: createMemoryLogger().logger, metrics: createMetrics(), intervalMs: 1000, afterMs: 60_000, batchSize: 3 });

      assert.equal(await relay.runOnce(), 7, 'every received event past the delay, across pages of 3');
      assert.deepEqual([...published].sort(), ids);
      assert.equal(await relay.runOnce(), 0, 'the next pass does not walk the same backlog again');
      relay.rescan();
      assert.equal(await relay.runOnce(), 7, 'after a Redis reconnect, everything still received is enqueued again');
      assert.ok(!published.includes('evt_relay_done'), 'settled events are never relayed');
    } finally {
      await dataSource.destroy();
    }
  });
});
