import type { DataSource } from 'typeorm';

/**
 * Applies pending migrations under a MySQL named lock: api and worker processes
 * starting together on a fresh database (docker compose up, --scale) would
 * otherwise race to create the same tables. The lock is held on a connection
 * of its own for the duration.
 */
/** Returns the names of the migrations it applied (none when the database was current). */
export async function migrate(dataSource: DataSource, timeoutSeconds = 120): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const [{ name }] = (await runner.query("SELECT CONCAT('billed.migrations.', DATABASE()) AS name")) as [{ name: string }];
    const [{ got }] = (await runner.query('SELECT GET_LOCK(?, ?) AS got', [name, timeoutSeconds])) as [{ got: number | null }];
    if (Number(got) !== 1) throw new Error(`another process held the migration lock for ${timeoutSeconds} s; is one stuck?`);
    try {
      return (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name);
    } finally {
      await runner.query('SELECT RELEASE_LOCK(?)', [name]);
    }
  } finally {
    await runner.release();
  }
}
