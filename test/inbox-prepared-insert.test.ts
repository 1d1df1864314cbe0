import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../src/db/data-source.js';
import { Ingestor, paddedRowCount, type IncomingEvent } from '../src/events/ingest.js';
import type { EventPublisher } from '../src/events/event-publisher.js';
import { createMetrics } from '../src/shared/metrics.js';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { startTestService, type TestService } from './helpers/test-service.js';
import { uniqueDatabaseUrl } from './helpers/test-database.js';
import { uniqueId } from './helpers/stripe-events.js';

/**
 * The inbox INSERT is a prepared statement whose row count comes from a small fixed set: a batch
 * is padded with repeats of its last row, which INSERT IGNORE skips. What must hold: every event
 * stored once, with its own values; redeliveries told apart from new events whatever their place
 * in the batch (the padding repeats the last one); and a bounded set of statements.
 */
describe('inbox: the prepared, padded INSERT', function () {
  this.timeout(60_000);
  let t: TestService;
  let dataSource: DataSource;
  let ingestor: Ingestor;

  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('inbox_prepared') });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    const publisher = {
      redisDown: false,
      assignBatchJobs: <E>(events: readonly E[]) => [...events],
      publish: async () => undefined,
    } as unknown as EventPublisher;
    ingestor = new Ingestor({ dataSource, publisher, logger: createMemoryLogger().logger, metrics: createMetrics() });
  });
  after(async () => {
    await dataSource.destroy();
    await t.stop();
  });

  const event = (id: string, accountId: string | null = null): IncomingEvent => ({
    id,
    type: 'payment_intent.succeeded',
    created: 1_760_000_123,
    livemode: true,
    apiVersion: '2025-10-29.clover',
    objectId: `pi_${id}`,
    accountId,
    // Quotes, backslashes, a NUL and non-ASCII: bound values, not escaped text.
    payload: JSON.stringify({ id, object: 'event', note: `it's "quoted" \\ back\u0000slashed, Zürich 東京 🙂` }),
    queueJob: `batch-${id}`,
  });

  it('pads to a few row counts: exact up to 16, then multiples of 4 up to 64 and of 16 beyond', () => {
    assert.deepEqual([1, 2, 16, 17, 20, 21, 64, 65, 80, 81, 200].map(paddedRowCount), [1, 2, 16, 20, 20, 24, 64, 80, 80, 96, 208]);
    for (let n = 1; n <= 1000; n++) {
      const rows = paddedRowCount(n);
      assert.ok(rows >= n && rows - n < (n <= 64 ? 4 : 16), `${n} → ${rows}`);
    }
    const statements = new Set(Array.from({ length: 200 }, (_, i) => paddedRowCount(i + 1)));
    assert.ok(statements.size <= 40, `batches of 1–200 use ${statements.size} statements`);
  });

  it('stores each event of a padded batch once, with its own values, and counts none of the padding', async () => {
    const events = Array.from({ length: 21 }, () => event(uniqueId('evt'), 'acct_prepared'));
    const stored = await ingestor.storeBatch(events);
    assert.equal(stored.fresh.length, 21);
    assert.equal(stored.duplicates, 0);

    const rows: { id: string; account_id: string; account_scope: string; type: string; livemode: number; stripe_created: string; api_version: string; object_id: string; payload: string; source: string; queue_job: string }[] =
      await dataSource.query('SELECT * FROM stripe_events WHERE id IN (?) ORDER BY id', [events.map((e) => e.id)]);
    assert.equal(rows.length, 21);
    for (const row of rows) {
      const sent = events.find((e) => e.id === row.id)!;
      assert.deepEqual(
        [row.account_id, row.account_scope, row.type, Number(row.livemode), Number(row.stripe_created), row.api_version, row.object_id, row.payload, row.source, row.queue_job],
        [sent.accountId, 'acct_prepared', sent.type, 1, sent.created, sent.apiVersion, sent.objectId, sent.payload, 'webhook', sent.queueJob],
      );
    }
  });

  it('tells redeliveries from new events in every position, the padded last one included', async () => {
    for (const size of [1, 2, 17, 23, 66]) {
      const earlier = Array.from({ length: size }, () => event(uniqueId('evt')));
      await ingestor.storeBatch(earlier.filter((_, i) => i % 2 === 1 || i === size - 1));
      // Half of them redeliveries, the last one (sorted last, so repeated as padding) among them.
      const again = await ingestor.storeBatch(earlier);
      const expectedFresh = earlier.filter((_, i) => i % 2 === 0 && i !== size - 1).map((e) => e.id).sort();
      assert.deepEqual(again.fresh.map((e) => e.id).sort(), expectedFresh, `batch of ${size}`);
      assert.equal(again.duplicates, size - expectedFresh.length, `batch of ${size}`);
      const [{ n }] = (await dataSource.query('SELECT COUNT(*) AS n FROM stripe_events WHERE id IN (?)', [earlier.map((e) => e.id)])) as [{ n: string }];
      assert.equal(Number(n), size, `batch of ${size}: one row per event`);
    }
  });

  it('goes to the server as a prepared statement, executed with bound values', async () => {
    const status = async (name: string) => {
      const [row] = (await dataSource.query('SHOW GLOBAL STATUS LIKE ?', [name])) as [{ Value: string }];
      return Number(row.Value);
    };
    const before = await status('Com_stmt_execute');
    await ingestor.storeBatch(Array.from({ length: 5 }, () => event(uniqueId('evt'))));
    assert.ok((await status('Com_stmt_execute')) > before, 'the INSERT ran as COM_STMT_EXECUTE');
  });
});
