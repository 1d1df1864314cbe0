import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';

/**
 * One run at a time per account across every process: a MySQL named lock (GET_LOCK), held by a
 * connection of its own for the run's length. MySQL releases it when that connection ends, so a
 * process killed mid-run leaves no lock behind. Lock names are server-wide: the database's name
 * is in it, so two deployments (or test runs) on one server do not block each other.
 * `waitS` 0: returns `{ran: false}` at once when another process holds it.
 */
export async function withRunLock<T>(dataSource: DataSource, key: string, waitS: number, run: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const [{ db }] = (await runner.query('SELECT DATABASE() AS db')) as [{ db: string }];
    // At most 64 characters: a hash of the database and the key.
    const name = `billed_sync_${createHash('sha256').update(`${db}\u0000${key}`).digest('hex').slice(0, 40)}`;
    const [{ got }] = (await runner.query('SELECT GET_LOCK(?, ?) AS got', [name, waitS])) as [{ got: number | string | null }];
    if (Number(got) !== 1) return { ran: false };
    try {
      return { ran: true, value: await run() };
    } finally {
      // A connection that could not release it must not go back to the pool still holding it.
      await runner.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => (runner as unknown as { databaseConnection?: { destroy?(): void } }).databaseConnection?.destroy?.());
    }
  } finally {
    await runner.release();
  }
}
