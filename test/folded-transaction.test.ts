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
});
