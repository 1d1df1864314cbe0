import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

/** MariaDB/MySQL the tests use; CI and developers share the machine's server, so names are unique per run. */
export const MYSQL_ROOT_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Shared by every copy of this module in the process: mocha loads the root hooks (test/setup.ts)
 * apart from the test files, so this module can be evaluated twice, and the databases the tests
 * create must be the ones the root hook drops.
 */
const registry = ((globalThis as { [key: symbol]: unknown })[Symbol.for('billed.test.databases')] ??= {
  runDatabase: `billed_test_${process.pid}_${randomBytes(3).toString('hex')}`,
  created: new Set<string>(),
}) as { runDatabase: string; created: Set<string> };
const runDatabase = registry.runDatabase;

/** The run's database (created and migrated by the first service that starts). */
export const TEST_DATABASE_URL = `${MYSQL_ROOT_URL}/${runDatabase}`;

/** A database of its own, for a test that must not see the others' rows. */
export function uniqueDatabaseUrl(label: string): string {
  return `${MYSQL_ROOT_URL}/billed_test_${label}_${randomBytes(3).toString('hex')}`;
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/';
  const connection = await mysql.createConnection(url.toString());
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await connection.end();
  }
}

/** Drops every database this process created (the run's and the unique ones). */
export async function dropTestDatabases(): Promise<void> {
  const connection = await mysql.createConnection(MYSQL_ROOT_URL);
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>(`SHOW DATABASES LIKE 'billed\\_test\\_%'`);
    for (const row of rows) {
      const name = String(Object.values(row)[0]);
      if (name === runDatabase || createdHere.has(name)) await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
  } finally {
    await connection.end();
  }
}

const createdHere = registry.created;
export function trackDatabase(databaseUrl: string): void {
  createdHere.add(new URL(databaseUrl).pathname.slice(1));
}
