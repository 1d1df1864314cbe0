import { QueryFailedError, type DataSource } from 'typeorm';

/** What an INSERT, UPDATE or DELETE reports. */
export interface WriteResult {
  affectedRows: number;
}

interface PreparingPool {
  execute(sql: string, params: unknown[], callback: (error: (Error & { code?: string }) | null, result: unknown) => void): void;
}

/**
 * Runs `sql` as a server-side prepared statement on the DataSource's pool (mysql2 prepares it once
 * per connection and keeps it). Values travel in the binary protocol: the client does not escape
 * them and the server does not lex them, which for the inbox's 2–3 KB payloads is most of the
 * statement's cost (measured: about 10 µs of client CPU and 10–30 µs of MariaDB CPU per row).
 * Each distinct `sql` is a statement held on every connection that ran it, so callers keep the
 * number of distinct texts small: `max_prepared_stmt_count` is server-wide and shared with every
 * other client (past it: `ER_MAX_PREPARED_STMT_COUNT_REACHED`, see `isPreparedStatementLimit`).
 * Errors are TypeORM's QueryFailedError, as from `query`.
 */
export function executePrepared(dataSource: DataSource, sql: string, params: unknown[]): Promise<WriteResult> {
  const pool = (dataSource.driver as unknown as { pool?: PreparingPool }).pool;
  if (!pool) return Promise.reject(new Error('executePrepared: the DataSource is not initialized (no connection pool)'));
  return new Promise<WriteResult>((resolve, reject) => {
    pool.execute(sql, params, (error, result) => {
      if (error) reject(new QueryFailedError(sql, params, error));
      else resolve(result as WriteResult);
    });
  });
}

/** The server holds as many prepared statements as it allows (all its clients together): the statement can still go as plain text. */
export const isPreparedStatementLimit = (error: unknown): boolean =>
  (error as { driverError?: { code?: string } })?.driverError?.code === 'ER_MAX_PREPARED_STMT_COUNT_REACHED';
