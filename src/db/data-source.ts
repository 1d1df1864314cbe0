import { DataSource } from 'typeorm';
import mysql from 'mysql2/promise';
import { migrations } from './migrations/index.js';
import { StripeEventEntity } from '../events/stripe-event.entity.js';

export const entities = [StripeEventEntity];

export interface DataSourceOptions {
  poolSize?: number;
  /** Only tests build the schema this way; everything else runs migrations. */
  synchronizeForTests?: boolean;
}

/**
 * Every connection runs READ COMMITTED. Event handlers take their payment and
 * invoice locks first; their reads after that must see every fact committed
 * before they got the locks, not a snapshot from before they waited. Set once
 * per connection (not per transaction): one round trip less on every event.
 */
/** And UTC, so NOW(3) and column defaults agree with the dates the service writes (timezone 'Z'). */
const SESSION_SETUP = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET time_zone = '+00:00'";

interface PoolLike {
  on(event: 'connection', listener: (connection: { query(sql: string, callback: (error: Error | null) => void): unknown; destroy(): void }) => void): void;
}

/** A DataSource for `databaseUrl`; nothing connects until `initialize()`. */
export function createDataSource(databaseUrl: string, options: DataSourceOptions = {}): DataSource {
  const { url, socketPath } = splitSocketPath(databaseUrl);
  const dataSource = new DataSource({
    type: 'mysql',
    url,
    entities,
    migrations,
    migrationsRun: false,
    synchronize: options.synchronizeForTests ?? false,
    charset: 'utf8mb4',
    timezone: 'Z',
    // Fail fast when the database is unreachable: the webhook route must answer 503 within seconds.
    connectTimeout: 2000,
    poolSize: options.poolSize ?? 20,
    // multipleStatements: the event worker sends writes whose results nobody reads in one round trip
    // (each round trip is a syscall pair, the largest cost per event). Every query in this codebase
    // binds values as ? parameters, which mysql2 escapes, so no input can add a statement.
    extra: { enableKeepAlive: true, multipleStatements: true, ...(socketPath && { socketPath }) },
    // mysql2 captures a stack trace on every query to decorate errors: a measurable share of the
    // worker's CPU. Query errors still carry their message and SQL state.
    trace: false,
    logging: false,
  });
  // Hook the pool as the driver creates it, before its first connection exists.
  const driver = dataSource.driver as unknown as { mysql: { createPool(options: unknown): PoolLike } };
  const mysql2 = driver.mysql;
  driver.mysql = Object.assign(Object.create(mysql2) as typeof mysql2, {
    createPool(poolOptions: unknown) {
      const pool = mysql2.createPool(poolOptions);
      pool.on('connection', (connection) =>
        connection.query(SESSION_SETUP, (error) => {
          // A connection without the session settings must not serve queries: the next acquire gets a new one.
          if (error) connection.destroy();
        }),
      );
      return pool;
    },
  });
  return dataSource;
}

/**
 * `?socketPath=/run/mysqld/mysqld.sock` in DATABASE_URL: talk to a database on the same host over
 * its Unix socket. Each query is a write and a read; over a socket they cost the kernel far less
 * than over loopback TCP, and the event worker makes thousands a second.
 */
export function splitSocketPath(databaseUrl: string): { url: string; socketPath?: string } {
  const parsed = new URL(databaseUrl);
  const socketPath = parsed.searchParams.get('socketPath') ?? undefined;
  parsed.searchParams.delete('socketPath');
  return { url: parsed.toString(), socketPath };
}

/** How long start-up waits for MySQL to answer: a host that drops packets fails start-up within seconds, not minutes. */
export const DATABASE_CONNECT_TIMEOUT_MS = 5000;

/** `npm start` on a fresh machine: create the database named in the URL if it does not exist. */
/** Creates the database if it is missing; true when it did. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new Error('DATABASE_URL must name a database, e.g. mysql://root@127.0.0.1:3306/billed');
  const connection = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    socketPath: url.searchParams.get('socketPath') ?? undefined,
    connectTimeout: DATABASE_CONNECT_TIMEOUT_MS,
  });
  try {
    // A user with rights on this one database only may not run CREATE DATABASE, even with IF NOT EXISTS.
    const [existing] = await connection.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
    if (existing.length > 0) return false;
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '``')}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
    return true;
  } finally {
    await connection.end();
  }
}
