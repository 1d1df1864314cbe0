import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../src/db/data-source.js';
import { Ingestor, paddedRowCount, type IncomingEvent } from '../src/events/ingest.js';
import type { EventPublisher } from '../src/events/event-publisher.js';
import { createMetrics } from '../src/shared/metrics.js';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { startTestService, type TestService } from './helpers/test-service.js';
import { uniqueDatabaseUrl } from './helpers/test-database.js';

type Execute = (sql: string, params: unknown[], callback: (error: (Error & { code?: string }) | null, result: unknown) => void) => void;

/**
 * The inbox INSERT is a prepared statement whose row count comes from a small fixed set: a batch
 * is padded with its last row's key, which INSERT IGNORE skips. What must hold: every event
 * stored once, with its own values; redeliveries told apart from new events whatever their place
 * in the batch; no payload sent twice; a deadlock tried again as before; and a server that will not
 * prepare one more statement still storing the batch.
 */
describe('inbox: the prepared, padded INSERT', function () {
  this.timeout(60_000);
  let t: TestService;
  let dataSource: DataSource;
  let ingestor: Ingestor;
  let lines: string[];
  let pool: { execute: Execute };
  let realExecute: Execute;

  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('inbox_prepared') });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    pool = (dataSource.driver as unknown as { pool: { execute: Execute } }).pool;
    realExecute = pool.execute.bind(pool);
    const publisher = {
      redisDown: false,
      assignBatchJobs: <E>(events: readonly E[]) => [...events],
      publish: async () => undefined,
    } as unknown as EventPublisher;
    const memory = createMemoryLogger();
    lines = memory.lines;
    ingestor = new Ingestor({ dataSource, publisher, logger: memory.logger, metrics: createMetrics() });
  });
  afterEach(() => {
    pool.execute = realExecute;
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
  /** `count` events whose ids sort in the order made: the last one made is the last row, the one the padding repeats. */
  const sortedEvents = (count: number) => {
    const prefix = randomBytes(6).toString('hex');
    return Array.from({ length: count }, (_, i) => event(`evt_${prefix}_${String(i).padStart(4, '0')}`));
  };
  const rowsOf = async (ids: string[]) => Number(((await dataSource.query('SELECT COUNT(*) AS n FROM stripe_events WHERE id IN (?)', [ids])) as [{ n: string }])[0].n);

  it('pads to a few row counts: exact up to 16, then multiples of 4 up to 64 and of 16 beyond', () => {
    assert.deepEqual([1, 2, 16, 17, 20, 21, 64, 65, 80, 81, 200].map(paddedRowCount), [1, 2, 16, 20, 20, 24, 64, 80, 80, 96, 208]);
    for (let n = 1; n <= 1000; n++) {
      const rows = paddedRowCount(n);
      assert.ok(rows >= n && rows - n < (n <= 64 ? 4 : 16), `${n} → ${rows}`);
    }
    const statements = new Set(Array.from({ length: 200 }, (_, i) => paddedRowCount(i + 1)));
    assert.ok(statements.size <= 40, `batches of 1–200 use ${statements.size} statements`);
  });

  it('stores each event of a padded batch once, with its own values, sent as a prepared statement whose padding carries no payload', async () => {
    const executed: { sql: string; params: unknown[] }[] = [];
    pool.execute = (sql, params, callback) => {
      executed.push({ sql, params });
      realExecute(sql, params, callback);
    };
    const events = sortedEvents(21).map((e) => ({ ...e, accountId: 'acct_prepared' }));
    const stored = await ingestor.storeBatch(events);
    assert.equal(stored.fresh.length, 21);
    assert.equal(stored.duplicates, 0);

    assert.equal(executed.length, 1, 'one INSERT, executed as a prepared statement');
    const params = executed[0]!.params;
    assert.equal(params.length, 24 * 12, '21 events padded to 24 rows of 12 values');
    for (let row = 21; row < 24; row++) {
      const values = params.slice(row * 12, row * 12 + 12);
      assert.deepEqual([values[0], values[2], values[8]], [events[20]!.id, 'acct_prepared', ''], `padding row ${row}: the last key, no payload`);
    }

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

  for (const lastIs of ['new', 'a redelivery'] as const) {
    it(`tells redeliveries from new events in every position, the padded last row ${lastIs}`, async () => {
      for (const size of [1, 2, 17, 23, 66]) {
        const events = sortedEvents(size);
        const redelivered = (i: number) => (i === size - 1 ? lastIs === 'a redelivery' : i % 2 === 1);
        await ingestor.storeBatch(events.filter((_, i) => redelivered(i)));
        const again = await ingestor.storeBatch(events);
        const expectedFresh = events.filter((_, i) => !redelivered(i)).map((e) => e.id);
        assert.deepEqual(again.fresh.map((e) => e.id).sort(), expectedFresh, `batch of ${size}`);
        assert.equal(again.duplicates, size - expectedFresh.length, `batch of ${size}`);
        assert.equal(await rowsOf(events.map((e) => e.id)), size, `batch of ${size}: one row per event`);
      }
    });
  }

  it('tries a deadlocked INSERT again, as before (InnoDB rolled it back whole)', async () => {
    let calls = 0;
    pool.execute = (sql, params, callback) => {
      calls += 1;
      if (calls === 1) callback(Object.assign(new Error('Deadlock found when trying to get lock'), { code: 'ER_LOCK_DEADLOCK' }), undefined);
      else realExecute(sql, params, callback);
    };
    const events = sortedEvents(5);
    const stored = await ingestor.storeBatch(events);
    assert.equal(calls, 2);
    assert.equal(stored.fresh.length, 5);
    assert.equal(await rowsOf(events.map((e) => e.id)), 5);
  });

  it('stores the batch as plain text when the server will prepare no more statements (max_prepared_stmt_count), and says so', async () => {
    pool.execute = (_sql, _params, callback) =>
      callback(Object.assign(new Error("Can't create more than max_prepared_stmt_count statements (current value: 16382)"), { code: 'ER_MAX_PREPARED_STMT_COUNT_REACHED' }), undefined);
    const events = sortedEvents(19);
    await ingestor.storeBatch(events.slice(0, 3));
    const stored = await ingestor.storeBatch(events);
    assert.equal(stored.fresh.length, 16);
    assert.equal(stored.duplicates, 3);
    assert.equal(await rowsOf(events.map((e) => e.id)), 19);
    const warning = lines.map((line) => JSON.parse(line) as { level: string; message: string; hint?: string }).find((l) => l.message === 'the server refused to prepare the inbox INSERT');
    assert.equal(warning?.level, 'warn');
    assert.match(warning?.hint ?? '', /max_prepared_stmt_count/);
  });
});
