import { ConfigError } from '../../config/env.schema.js';
import { DATABASE_CONNECT_TIMEOUT_MS } from '../db/data-source.js';
import { EX_CONFIG, StartupError, describeError } from '../shared/errors.js';
import { connectionFailureReason } from '../shared/network-errors.js';
import { maskUrlPassword, redactSecrets } from '../shared/redact.js';
import type { UnreadableConnections } from '../shared/unreadable-secrets.js';

/**
 * The one classification of start-up failures: what the process prints and the
 * code it exits with. A failure an operator fixes in the configuration, or in
 * what it points at (a database that is not there, a user without rights, a
 * key that opens nothing), names the variable, says how to fix it, and exits
 * 78 (EX_CONFIG); anything else exits 1 with the error on one line.
 */

export { EX_CONFIG };
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

/** A listen that failed: a port already taken (or one this user may not bind) is PORT's to fix. */
export function listenStartupError(error: unknown, port: number): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const why =
    code === 'EADDRINUSE' ? `port ${port} is already in use on this machine: stop what listens there, or set PORT to a free port`
    : code === 'EACCES' ? `this user may not listen on port ${port} (ports below 1024 need privileges): set PORT to 1024 or above`
    : undefined;
  if (!why) return error;
  return new StartupError(`PORT: ${why} (now PORT=${port})`, { variable: 'PORT', exitCode: EX_CONFIG, cause: error });
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
const accountOf = (error: unknown, user: string) => /(?:for|to) user ('[^']*'@'[^']*')/.exec(error instanceof Error ? error.message : '')?.[1] ?? `'${user}'@'%'`;

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
      // root exists already; on Debian it may only log in through the socket, so the fix is a user of the service's own.
      if (target.user === 'root') {
        return config(
          `MySQL at ${target.address} refused user 'root' (${mysqlMessage}): correct the password in DATABASE_URL=${URL_SHAPE} (${now}); ` +
            `if root may only log in through the socket (Debian's MariaDB: sudo mariadb), give the service a user of its own: ` +
            `CREATE USER 'billed'@'${target.host}' IDENTIFIED BY '…'; GRANT ALL ON ${sqlName(`${target.database}%`)}.* TO 'billed'@'${target.host}'; ` +
            `then set DATABASE_URL=mysql://billed:…@${target.address}/${target.database}`,
        );
      }
      return config(
        `MySQL at ${target.address} refused user '${target.user}' (${mysqlMessage}): correct the user and password in DATABASE_URL=${URL_SHAPE} (${now}), ` +
          `or create that user: CREATE USER '${target.user}'@'${target.host}' IDENTIFIED BY '…'; GRANT ALL ON ${sqlName(target.database)}.* TO '${target.user}'@'${target.host}';`,
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

export type { UnreadableConnections };

/** Both gateways' findings; a gateway whose secrets all open is absent. */
export interface UnreadableSecrets {
  stripe?: UnreadableConnections;
  paypal?: UnreadableConnections;
}

const listed = (ids: string[], max = 10) => (ids.length <= max ? ids.join(', ') : `${ids.slice(0, max).join(', ')} and ${ids.length - max} more`);
const accountsOf = (ids: string[], noun: string) => `${ids.length} ${noun}${ids.length === 1 ? '' : 's'} (${listed(ids)})`;

/** The command that forgets the connections no key can open: the only way forward once their key is lost. */
function forgetCommand(found: UnreadableConnections, table: string, databaseUrl: string): string {
  const target = databaseTarget(databaseUrl);
  const where = found.accountIds.length === found.stored ? '' : ` WHERE account_id IN (${found.accountIds.map((id) => `'${id}'`).join(', ')})`;
  const options = [
    target.socketPath ? `--socket=${target.socketPath}` : `--host=${target.host} --port=${target.port}`,
    `--user=${target.user}`,
    ...(target.hasPassword ? ['--password'] : []),
  ];
  return `mysql ${options.join(' ')} ${target.database} -e "DELETE FROM ${table}${where}"`;
}

/**
 * Starting with another ENCRYPTION_KEY than the stored Stripe keys and PayPal secrets were sealed
 * with would fail every connected account later (webhooks, Pay Now, Pay with PayPal): EX_CONFIG,
 * with both ways out.
 */
export function encryptionKeyStartupError(found: UnreadableSecrets, databaseUrl: string): StartupError {
  const { stripe, paypal } = found;
  const keySet = (stripe ?? paypal)?.keySet ?? true;
  const sealed = [
    ...(stripe ? [keySet ? `the Stripe keys stored for ${accountsOf(stripe.accountIds, 'connected account')}` : `the Stripe keys of ${accountsOf(stripe.accountIds, 'connected account')}`] : []),
    ...(paypal ? [keySet ? `the PayPal secrets stored for ${accountsOf(paypal.accountIds, 'account')}` : `the PayPal secrets of ${accountsOf(paypal.accountIds, 'account')}`] : []),
  ].join(' and ');
  const problem = keySet ? `ENCRYPTION_KEY: cannot decrypt ${sealed}: it is not the key they were sealed with.` : `ENCRYPTION_KEY is not set, but ${sealed} are stored encrypted.`;
  const lines = [
    problem,
    `Fix: set ENCRYPTION_KEY ${keySet ? 'back ' : ''}to the key they were sealed with, and start again.`,
    `If that key is lost, these accounts must connect ${[stripe && 'Stripe', paypal && 'PayPal'].filter(Boolean).join(' and ')} again (the default account, STRIPE_SECRET_KEY, is not affected):`,
    `  1. forget their stored ${[stripe && 'keys and webhook signing secrets', paypal && 'PayPal secrets'].filter(Boolean).join(' and ')}:`,
    ...(stripe ? [`     ${forgetCommand(stripe, 'stripe_connections', databaseUrl)}`] : []),
    ...(paypal ? [`     ${forgetCommand(paypal, 'paypal_connections', databaseUrl)}`] : []),
    '  2. start the service with the new ENCRYPTION_KEY;',
    ...(stripe
      ? [
          '  3. connect each account again: PUT /api/accounts/<account id>/stripe {"secretKey": "sk_..."};',
          "     with PUBLIC_BASE_URL set this creates a new webhook endpoint: delete the old one (its URL ends in /webhooks/stripe/<account id>) in the merchant's",
          '     Stripe Dashboard, Developers > Webhooks, as its signing secret is lost; without PUBLIC_BASE_URL, also pass "webhookSecret": that endpoint\'s signing secret.',
        ]
      : []),
    ...(paypal
      ? [
          `  ${stripe ? '4' : '3'}. connect PayPal again: PUT /api/accounts/<account id>/paypal {"clientId": "...", "clientSecret": "...", "mode": "sandbox" or "live"};`,
          '     with PUBLIC_BASE_URL set, the webhook PayPal already has at the account\'s URL is found and kept.',
        ]
      : []),
  ];
  return new StartupError(lines.join('\n'), { variable: 'ENCRYPTION_KEY', exitCode: EX_CONFIG });
}
