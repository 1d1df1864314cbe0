import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line carries: the request id on the API, the job and event id in workers. */
export interface LogContext {
  requestId?: string;
  jobId?: string;
  eventId?: string;
  /** The merchant account whose endpoint the event came in on (absent: the default endpoint). */
  accountId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

export const runWithContext = <T>(context: LogContext, fn: () => T): T => storage.run(context, fn);
export const currentContext = (): LogContext | undefined => storage.getStore();
