import { currentContext, runWithContext, type LogContext } from './context.js';
import type { Logger } from './logger.js';

export interface RateLimitedLogOptions {
  level: 'error' | 'warn' | 'info' | 'debug';
  message: string;
  /** At most one line per key per this many ms. */
  intervalMs: number;
  /** The field naming the key in each line, e.g. `account`. */
  keyField: string;
}

export interface RateLimitedLog {
  /** Logs now, or counts the line for the key's next one if the key logged less than intervalMs ago. */
  (key: string, meta?: Record<string, unknown>): void;
  /** Writes every pending count now (on shutdown). */
  flush(): void;
}

interface Window {
  suppressed: number;
  /** The latest suppressed line's fields and log context (its request id). */
  latest?: { meta: Record<string, unknown>; context: LogContext | undefined };
  timer: NodeJS.Timeout;
}

/**
 * A log line that a flood cannot turn into a flood of lines (a sender hammering the webhook with
 * bad signatures must not fill the disk): per key, the first line is written at once, and then
 * at most one line per `intervalMs` while more come, carrying `suppressed`, how many were not
 * written since the line before, and the fields and request id of the latest of them. A key
 * that goes quiet for a whole interval is forgotten: memory holds only keys active in the last
 * interval, and the next line for it is written at once again.
 */
export function rateLimitedLog(logger: Logger, options: RateLimitedLogOptions): RateLimitedLog {
  const windows = new Map<string, Window>();

  const open = (key: string): void => {
    // Unref'd: a pending count must not keep the process alive; flush() writes it on shutdown.
    const timer = setTimeout(() => close(key), options.intervalMs).unref();
    windows.set(key, { suppressed: 0, timer });
  };

  const write = (key: string, suppressed: number, meta: Record<string, unknown> = {}) =>
    logger.log(options.level, options.message, { ...meta, [options.keyField]: key, suppressed, intervalSeconds: options.intervalMs / 1000 });

  /** The key's interval is over: the count of what it held back, if any, and a new interval after that line. */
  const close = (key: string): void => {
    const window = windows.get(key);
    if (!window) return;
    clearTimeout(window.timer);
    windows.delete(key);
    if (window.suppressed === 0) return;
    const { meta, context } = window.latest!;
    runWithContext(context ?? {}, () => write(key, window.suppressed, meta));
    open(key);
  };

  const log = ((key: string, meta?: Record<string, unknown>) => {
    const window = windows.get(key);
    if (window) {
      window.suppressed += 1;
      window.latest = { meta: meta ?? {}, context: currentContext() };
      return;
    }
    write(key, 0, meta);
    open(key);
  }) as RateLimitedLog;

  log.flush = () => {
    for (const key of [...windows.keys()]) {
      close(key);
      // Closing opened a new interval for a key that had a count: nothing is pending in it.
      const window = windows.get(key);
      if (window) {
        clearTimeout(window.timer);
        windows.delete(key);
      }
    }
  };
  return log;
}
