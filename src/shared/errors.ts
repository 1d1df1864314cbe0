/**
 * The one error type. `code` is stable (clients and tests match on it),
 * `status` is the HTTP status it maps to, and `message` says how to fix it.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/**
 * A piece of the request (an id from the path, a value from the body) as an error message repeats
 * it: at most `max` characters (64 by default), then "…", so a 1 MB id is not sent back whole.
 * Messages travel only in JSON bodies (with <, > and & escaped: app.ts, security-headers.ts), never in HTML.
 */
export function echo(value: string, max = 64): string {
  if (value.length <= max) return value;
  // Never half a surrogate pair at the cut.
  const cut = /[\uD800-\uDBFF]/.test(value[max - 1]!) ? max - 1 : max;
  return `${value.slice(0, cut)}…`;
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;

/** A short, single-line description of any thrown value, for logs and `lastError`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** sysexits.h EX_CONFIG: the configuration is wrong; restarting as is will not help. */
export const EX_CONFIG = 78;

/**
 * Start-up stopped by something an operator must fix before the process can run.
 * `variable` names the setting to look at (DATABASE_URL, ENCRYPTION_KEY…), and the
 * message says what to do; `exitCode` is 78 (EX_CONFIG, sysexits.h) when the
 * configuration, or what it points at, is wrong: an orchestrator can tell that a
 * restart alone will not help. Built by src/runtime/startup-errors.ts.
 */
export class StartupError extends Error {
  readonly variable?: string;
  readonly exitCode: number;

  constructor(message: string, options: { variable?: string; exitCode: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'StartupError';
    this.variable = options.variable;
    this.exitCode = options.exitCode;
  }
}

/**
 * An event that can never be applied as it stands: its object lacks a field the handler needs, or
 * it is rendered in an API version this service cannot read. Retrying cannot change a stored
 * payload, so the event ends `failed` at once with `reason`; on-call replays it once the cause is
 * fixed (the handler, the endpoint's API version, the account's key).
 */
export class EventRejectedError extends Error {
  constructor(
    readonly reason: 'invalid_object' | 'unsupported_api_version',
    message: string,
  ) {
    super(message);
    this.name = reason === 'invalid_object' ? 'InvalidObject' : 'UnsupportedApiVersion';
  }
}
