import { DataSource } from 'typeorm';
import mysql from 'mysql2/promise';
import { migrations } from './migrations';
import { StripeEventEntity } from '../events/stripe-event.entity';

export const entities = [StripeEventEntity];

export interface DataSourceOptions {
  poolSize?: number;
  /** Only tests build the schema this way; everything else runs migrations. */
  synchronizeForTests?: boolean;
}

/** A DataSource for `databaseUrl`; nothing connects until `initialize()`. */
export function createDataSource(databaseUrl: string, options: DataSourceOptions = {}): DataSource {
  return new DataSource({
    type: 'mysql',
    url: databaseUrl,
    entities,
    migrations,
    migrationsRun: false,
    synchronize: options.synchronizeForTests ?? false,
    charset: 'utf8mb4',
    timezone: 'Z',
    // Fail fast when the database is unreachable: the webhook route must answer 503 within seconds.
    connectTimeout: 2000,
    poolSize: options.poolSize ?? 20,
    extra: { enableKeepAlive: true },
    logging: false,
  });
}

/** `npm start` on a fresh machine: create the database named in the URL if it does not exist. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new Error('DATABASE_URL must name a database, e.g. mysql://root@127.0.0.1:3306/billed');
  const connection = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    connectTimeout: 5000,
  });
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '``')}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await connection.end();
  }
}
