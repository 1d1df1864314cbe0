import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../src/db/data-source.js';
import { Ingestor, type IncomingEvent } from '../../src/events/ingest.js';
import type { EventPublisher } from '../../src/events/event-publisher.js';
import { createMetrics } from '../../src/shared/metrics.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { uniqueId } from '../helpers/stripe-events.js';

/**
 * A catch-up page and live deliveries store some of the same events at the same moment, each
 * batch in its own order (Stripe lists newest first; deliveries come as they come). InnoDB
 * deadlocked such batches (CI saw a delivery answered 503 while a catch-up ran).
 */
describe('inbox: batches storing the same events at the same time', function () {
  this.timeout(60_000);
  let t: TestService;
  let dataSource: DataSource;
  let ingestor: Ingestor;
  const published: string[] = [];

  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('inbox_batches') });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    const publisher = {
      redisDown: false,
      assignBatchJobs: <E>(events: readonly E[]) => [...events],
      async publish(events: readonly { id: string }[]) {
        published.push(...events.map((e) => e.id));
      },
    } as unknown as EventPublisher;
    ingestor = new Ingestor({ dataSource, publisher, logger: createMemoryLogger().logger, metrics: createMetrics() });
  });
  after(async () => {
    await dataSource.destroy();
    await t.stop();
  });

  const event = (id: string): IncomingEvent => ({
    id,
    type: 'charge.succeeded',
    created: 1_760_000_000,
    livemode: false,
    apiVersion: null,
    objectId: null,
    accountId: null,
    payload: JSON.stringify({ id, object: 'event' }),
    source: 'catch_up',
  });

  it('store each event once, never failing on a deadlock, whatever order each batch has', async () => {
    let stored = 0;
    for (let round = 0; round < 30; round++) {
      const events = Array.from({ length: 100 }, () => event(uniqueId('evt')));
      const results = await Promise.all([
        ingestor.storeBatch(events),
        ingestor.storeBatch([...events].reverse()),
        ingestor.storeBatch(events.filter((_, i) => i % 3 === 0)),
      ]);
      const fresh = results.reduce((sum, r) => sum + r.fresh.length, 0);
      assert.equal(fresh, 100, `round ${round}: each event new to exactly one batch`);
      stored += fresh;
    }
    const [row] = await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events');
    assert.equal(Number(row!.n), stored);
    assert.equal(published.length, stored, 'each event queued once');
  });
});
