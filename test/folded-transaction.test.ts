import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../src/db/data-source.js';
import { foldedTransaction } from '../src/db/folded-transaction.js';
import { MYSQL_ROOT_URL, dropDatabase, trackDatabase, uniqueDatabaseUrl } from './helpers/test-database.js';

describe('folded transaction: deferred writes', () => {
  const databaseUrl = uniqueDatabaseUrl('folded');
  let dataSource: DataSource;

  before(async () => {
    trackDatabase(databaseUrl);
    const root = await mysql.createConnection(MYSQL_ROOT_URL);
    await root.query(`CREATE DATABASE \`${new URL(databaseUrl).pathname.slice(1)}\``);
    await root.end();
    dataSource = createDataSource(databaseUrl);
    await dataSource.initialize();
    await dataSource.query('CREATE TABLE rows_under_test (id VARCHAR(8) PRIMARY KEY, a INT NULL, b INT NULL) ENGINE=InnoDB');
  });

  after(async () => {
    await dataSource?.destroy();
    await dropDatabase(databaseUrl);
  });

  beforeEach(async () => {
    await dataSource.query('DELETE FROM rows_under_test');
    await dataSource.query("INSERT INTO rows_under_test (id) VALUES ('r1'), ('r2')");
  });

  const updatesSoFar = async (tx: { query(sql: string): Promise<{ Value: string }[]> }) =>
    Number((await tx.query("SHOW SESSION STATUS LIKE 'Com_update'"))[0]!.Value);

  it('merges consecutive updates of one row into one UPDATE (later values win), and keeps the others apart and in order', async () => {
    const updates = await foldedTransaction(dataSource, async (tx) => {
      const before = await updatesSoFar(tx);
      tx.deferUpdate('rows_under_test', 'r1', { a: 1 });
      tx.deferUpdate('rows_under_test', 'r1', { b: 2, a: 3 });
      tx.deferUpdate('rows_under_test', 'r2', { a: 5 });
      // Not next to the first two: its own statement, after r2's.
      tx.deferUpdate('rows_under_test', 'r1', { b: 4 });
      const after = await updatesSoFar(tx);
      return { final: [], done: () => after - before };
    });
    assert.equal(updates, 3);
    const rows = (await dataSource.query('SELECT id, a, b FROM rows_under_test ORDER BY id')) as { id: string; a: number | null; b: number | null }[];
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: 'r1', a: 3, b: 4 },
      { id: 'r2', a: 5, b: null },
    ]);
  });

  it('sends updates of several rows that set the same columns, one after another, as one UPDATE, each row with its own values', async () => {
    await dataSource.query("INSERT INTO rows_under_test (id, a, b) VALUES ('r3', 30, 31)");
    const updates = await foldedTransaction(dataSource, async (tx) => {
      const before = await updatesSoFar(tx);
      tx.deferUpdate('rows_under_test', 'r1', { a: 1, b: null });
      tx.deferUpdate('rows_under_test', 'r2', { b: 2, a: 20 });
      tx.deferUpdate('rows_under_test', 'r3', { a: null, b: 3 });
      // r1 again: a statement of its own after the first, so its writes keep their order.
      tx.deferUpdate('rows_under_test', 'r1', { a: 11, b: 12 });
      const after = await updatesSoFar(tx);
      return { final: [], done: () => after - before };
    });
    assert.equal(updates, 2);
    const rows = (await dataSource.query('SELECT id, a, b FROM rows_under_test ORDER BY id')) as { id: string; a: number | null; b: number | null }[];
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: 'r1', a: 11, b: 12 },
      { id: 'r2', a: 20, b: 2 },
      { id: 'r3', a: null, b: 3 },
    ]);
  });

  it('sets a column every row of such an UPDATE gives the same value once, and still each row its own values of the others', async () => {
    await dataSource.query("INSERT INTO rows_under_test (id, a, b) VALUES ('r3', 30, 31), ('r4', 40, 41)");
    const updates = await foldedTransaction(dataSource, async (tx) => {
      const before = await updatesSoFar(tx);
      tx.deferUpdate('rows_under_test', 'r1', { a: 5, b: 1 });
      tx.deferUpdate('rows_under_test', 'r2', { b: 2, a: 5 });
      tx.deferUpdate('rows_under_test', 'r3', { a: 5, b: null });
      const after = await updatesSoFar(tx);
      return { final: [], done: () => after - before };
    });
    assert.equal(updates, 1);
    const rows = (await dataSource.query('SELECT id, a, b FROM rows_under_test ORDER BY id')) as { id: string; a: number | null; b: number | null }[];
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: 'r1', a: 5, b: 1 },
      { id: 'r2', a: 5, b: 2 },
      { id: 'r3', a: 5, b: null },
      // Not in the UPDATE: untouched.
      { id: 'r4', a: 40, b: 41 },
    ]);
  });

  it('a deferred write is seen by the next statement of the transaction, and is undone with it on rollback', async () => {
    await assert.rejects(
      foldedTransaction(dataSource, async (tx) => {
        tx.deferUpdate('rows_under_test', 'r1', { a: 7 });
        const [row] = (await tx.query("SELECT a FROM rows_under_test WHERE id = 'r1'")) as { a: number }[];
        assert.equal(row!.a, 7);
        throw new Error('handler failed');
      }),
      /handler failed/,
    );
    const [row] = (await dataSource.query("SELECT a FROM rows_under_test WHERE id = 'r1'")) as { a: number | null }[];
    assert.equal(row!.a, null);
  });

  const roundTripsOf = (dataSource: DataSource) => {
    let count = 0;
    const create = dataSource.createQueryRunner.bind(dataSource);
    dataSource.createQueryRunner = (...args) => {
      const runner = create(...args);
      const query = runner.query.bind(runner);
      runner.query = ((...a: unknown[]) => {
        count += 1;
        return (query as (...b: unknown[]) => Promise<unknown>)(...a);
      }) as typeof runner.query;
      return runner;
    };
    return { count: () => count, restore: () => void (dataSource.createQueryRunner = create) };
  };

  it('checks a guarded write when the statement it rode with comes back; a failed check rolls back everything, the COMMIT never sent', async () => {
    const trips = roundTripsOf(dataSource);
    try {
      await assert.rejects(
        foldedTransaction(dataSource, async (tx) => {
          tx.deferUpdate('rows_under_test', 'r1', { a: 1 });
          // Matches no row: the check refuses it.
          tx.deferGuard({ sql: "UPDATE rows_under_test SET b = 2 WHERE id = 'r9'", params: [] }, (result) => {
            if ((result as { affectedRows: number }).affectedRows === 0) throw new Error('guard refused');
          });
          await tx.query("SELECT a FROM rows_under_test WHERE id = 'r2'");
          return { final: [{ sql: "UPDATE rows_under_test SET a = 9 WHERE id = 'r2'", params: [] }], done: () => undefined };
        }),
        /guard refused/,
      );
      // BEGIN, the write, the guard and the SELECT in one round trip; then the ROLLBACK.
      assert.equal(trips.count(), 2);
    } finally {
      trips.restore();
    }
    const rows = (await dataSource.query('SELECT id, a, b FROM rows_under_test ORDER BY id')) as { id: string; a: number | null; b: number | null }[];
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: 'r1', a: null, b: null },
      { id: 'r2', a: null, b: null },
    ]);
  });

  it('sends a guarded write that nothing follows in a round trip of its own before the COMMIT, so a failed check still rolls back', async () => {
    const trips = roundTripsOf(dataSource);
    let checked = 0;
    try {
      await assert.rejects(
        foldedTransaction(dataSource, async (tx) => {
          tx.deferUpdate('rows_under_test', 'r1', { a: 1 });
          tx.deferGuard({ sql: "UPDATE rows_under_test SET b = 2 WHERE id = 'r9'", params: [] }, () => {
            checked += 1;
            throw new Error('guard refused');
          });
          return { final: [{ sql: "UPDATE rows_under_test SET a = 9 WHERE id = 'r2'", params: [] }], done: () => undefined };
        }),
        /guard refused/,
      );
      const ok = await foldedTransaction(dataSource, async (tx) => {
        tx.deferGuard({ sql: "UPDATE rows_under_test SET b = 2 WHERE id = 'r1'", params: [] }, () => (checked += 1));
        return { final: [], done: () => 'committed' };
      });
      assert.equal(ok, 'committed');
      // Refused: [BEGIN, write, guard], then the ROLLBACK. Passed: [BEGIN, guard], then the COMMIT.
      assert.equal(trips.count(), 4);
    } finally {
      trips.restore();
    }
    assert.equal(checked, 2);
    const rows = (await dataSource.query('SELECT id, a, b FROM rows_under_test ORDER BY id')) as { id: string; a: number | null; b: number | null }[];
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: 'r1', a: null, b: 2 },
      { id: 'r2', a: null, b: null },
    ]);
  });
});
