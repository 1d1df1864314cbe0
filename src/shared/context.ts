import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line carries: the request id on the API, the job and event id in workers. */
export interface LogContext {
  requestId?: string;
  jobId?: string;
  eventId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

export const runWithContext = <T>(context: LogContext, fn: () => T): T => storage.run(context, fn);
export const currentContext = (): LogContext | undefined => storage.getStore();
