import { ConfigError } from '../../config/env.schema.js';
import { DATABASE_CONNECT_TIMEOUT_MS } from '../db/data-source.js';
import { StartupError, describeError } from '../shared/errors.js';
import { connectionFailureReason } from '../shared/network-errors.js';
import { maskUrlPassword, redactSecrets } from '../shared/redact.js';

/**
 * The one classification of start-up failures: what the process prints and the
 * code it exits with. A failure an operator fixes in the configuration, or in
 * what it points at (a database that is not there, a user without rights), names the variable, says how to fix it, and exits
 * 78 (EX_CONFIG); anything else exits 1 with the error on one line.
 */

/** sysexits.h EX_CONFIG: the configuration is wrong; restarting as is will not help. */
export const EX_CONFIG = 78;
const EX_FAILURE = 1;

export interface StartupFailure {
  exitCode: number;
  /** For stderr; never holds a password (URLs are masked, secrets redacted). */
  message: string;
}

export function startupFailure(error: unknown): StartupFailure {
  if (error instanceof ConfigError) return { exitCode: EX_CONFIG, message: redactSecrets(error.message) };
  if (error instanceof StartupError) return { exitCode: error.exitCode, message: redactSecrets(error.message) };
  return { exitCode: EX_FAILURE, message: redactSecrets(`start-up failed: ${error instanceof Error ? error.message : String(error)}`) };
}

/** Which part of opening the database failed. */
export type DatabaseStep = 'connecting' | 'opening' | 'migrating';

const URL_SHAPE = 'mysql://<user>:<password>@<host>:<port>/<database>';

interface DatabaseTarget {
  /** host:port, or the Unix socket. */
  address: string;
  host: string;
  port: string;
  user: string;
  database: string;
  socketPath?: string;
  hasPassword: boolean;
}

function databaseTarget(databaseUrl: string): DatabaseTarget {
  const url = new URL(databaseUrl);
  const socketPath = url.searchParams.get('socketPath') ?? undefined;
  return {
    address: socketPath ?? `${url.hostname}:${url.port || 3306}`,
    host: url.hostname,
    port: url.port || '3306',
    user: decodeURIComponent(url.username || 'root'),
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    socketPath,
    hasPassword: url.password !== '',
  };
}

const sqlName = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/** `'user'@'host'` as MySQL reported it (the host it saw us come from), else any host. */
const accountOf = (error: unknown, user: string) => /for user ('[^']*'@'[^']*')/.exec(error instanceof Error ? error.message : '')?.[1] ?? `'${user}'@'%'`;

/**
 * A failure to reach, create, open or migrate the database named by DATABASE_URL,
 * as the StartupError main() reports: unreachable, unknown host, wrong user or
 * password, or missing rights are EX_CONFIG; the rest (a failing migration) exits 1.
 */
export function databaseStartupError(error: unknown, databaseUrl: string, step: DatabaseStep): StartupError {
  const target = databaseTarget(databaseUrl);
  const now = `now ${maskUrlPassword(databaseUrl)}`;
  const mysqlMessage = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const config = (message: string) => new StartupError(`DATABASE_URL: ${message}`, { variable: 'DATABASE_URL', exitCode: EX_CONFIG, cause: error });
  const who = accountOf(error, target.user);
  const grant = `GRANT ALL ON ${sqlName(target.database)}.* TO ${who};`;

  if (target.socketPath && code === 'ENOENT') {
    return config(`cannot connect to MySQL: no socket at ${target.socketPath}: start MySQL/MariaDB, or correct socketPath in DATABASE_URL (${now})`);
  }
  const reason = connectionFailureReason(error, target.host);
  if (reason) {
    const at = `cannot connect to MySQL at ${target.address}`;
    switch (code) {
      case 'ECONNREFUSED':
        return config(`${at} (connection refused): start MySQL/MariaDB there, or set DATABASE_URL=${URL_SHAPE} to where it runs (${now})`);
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return config(`${at} (${reason}): correct the host in DATABASE_URL=${URL_SHAPE} (${now})`);
      case 'ETIMEDOUT':
        return config(
          `${at} (no answer within ${DATABASE_CONNECT_TIMEOUT_MS / 1000} s): check that MySQL/MariaDB runs there and that no firewall drops the connection, or set DATABASE_URL=${URL_SHAPE} (${now})`,
        );
      default:
        return config(`${at} (${reason}): check the host and port in DATABASE_URL=${URL_SHAPE} (${now})`);
    }
  }
  switch (code) {
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
      return config(
        `MySQL at ${target.address} refused user '${target.user}' (${mysqlMessage}): correct the user and password in DATABASE_URL=${URL_SHAPE} (${now}), ` +
          `or create that user: CREATE USER '${target.user}'@'%' IDENTIFIED BY '…'; GRANT ALL ON ${sqlName(target.database)}.* TO '${target.user}'@'%';`,
      );
    case 'ER_HOST_NOT_PRIVILEGED':
      return config(
        `MySQL at ${target.address} does not accept user '${target.user}' from this host (${mysqlMessage}): create the user for this host ` +
          `(CREATE USER '${target.user}'@'%' IDENTIFIED BY '…'; GRANT ALL ON ${sqlName(target.database)}.* TO '${target.user}'@'%';) (${now})`,
      );
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_TABLEACCESS_DENIED_ERROR':
    case 'ER_BAD_DB_ERROR':
      if (step === 'connecting') {
        // The only statement before the database is opened is CREATE DATABASE.
        return config(
          `database ${sqlName(target.database)} does not exist (or user ${who} has no rights on it), and the user may not create it (${mysqlMessage}): have an administrator run ` +
            `CREATE DATABASE ${sqlName(target.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; ${grant} or set DATABASE_URL to a database this user may use (${now})`,
        );
      }
      return config(`user ${who} lacks privileges on database ${sqlName(target.database)} (${mysqlMessage}): have an administrator run ${grant} (${now})`);
  }
  const doing = { connecting: 'creating', opening: 'opening', migrating: 'migrating' }[step];
  return new StartupError(`start-up failed while ${doing} the database (DATABASE_URL ${maskUrlPassword(databaseUrl)}): ${describeError(error)}`, {
    variable: 'DATABASE_URL',
    exitCode: EX_FAILURE,
    cause: error,
  });
}
