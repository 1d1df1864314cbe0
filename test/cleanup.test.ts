import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { MYSQL_ROOT_URL } from './helpers/test-database.js';

const root = fileURLToPath(new URL('../', import.meta.url));

// Runs on the machine's shared MariaDB (and CI's) leave nothing behind: every database a run
// creates is dropped by the run's root hook, though mocha loads that hook apart from the tests.
describe('test runs clean up after themselves', () => {
  it('drops the databases a run created once the run ends', async function () {
    this.timeout(60_000);
    const result = spawnSync(process.execPath, ['node_modules/mocha/bin/mocha.js', 'test/helpers/cleanup.probe.ts'], { cwd: root, encoding: 'utf8', timeout: 50_000 });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const name = /probe-database=(\S+)/.exec(result.stdout)?.[1];
    assert.ok(name, result.stdout);
    const connection = await mysql.createConnection(MYSQL_ROOT_URL);
    try {
      const [rows] = await connection.query<mysql.RowDataPacket[]>('SHOW DATABASES LIKE ?', [name]);
      assert.equal(rows.length, 0, `${name} is left behind`);
    } finally {
      await connection.end();
    }
  });
});
