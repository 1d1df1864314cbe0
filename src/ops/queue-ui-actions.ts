import { Router, type RequestHandler, type Response } from 'express';
import { appRoutes } from '@bull-board/api/dist/routes.js';
import { AppError } from '../shared/errors.js';

/**
 * Who may make a change through @bull-board: `operator` (and admin), `admin` only, or `off` for
 * everyone. Reads (GET, HEAD) are open to operators.
 */
export type QueueActionAccess = 'operator' | 'admin' | 'off';

export interface QueueActionPolicy {
  /** The audit action is `queue_ui.<name>`. */
  name: string;
  access: QueueActionAccess;
  /** For `off`: why, and what to do instead. */
  instead?: string;
  /**
   * What the request changes, for the audit log: sizes and key names of job data, never its
   * values (a job's data can hold anything a merchant's event carried).
   */
  changes?: (body: Record<string, unknown>) => Record<string, unknown>;
}

/** Top-level key names (at most 20, each cut at 64 characters) and the JSON size in bytes: what changed, not what it says. */
export function describeData(data: unknown): { dataKeys: string[] | null; dataBytes: number } {
  const keys = data && typeof data === 'object' && !Array.isArray(data) ? Object.keys(data).slice(0, 20).map((key) => key.slice(0, 64)) : null;
  return { dataKeys: keys, dataBytes: data === undefined ? 0 : Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8') };
}

const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/**
 * Every write route of @bull-board 9, by its own method and path. Operators keep the two verbs
 * that put work back on its way (retry, promote); anything else that changes a queue is an
 * admin's, and what the service itself owns is off. A write route missing here (a newer
 * bull-board) is admin-only until someone decides (a test lists any such route).
 */
export const QUEUE_ACTIONS: Record<string, QueueActionPolicy> = {
  'put /api/queues/:queueName/:jobId/retry': { name: 'retry', access: 'operator' },
  'put /api/queues/:queueName/retry/:queueStatus': { name: 'retry_all', access: 'operator' },
  'put /api/queues/:queueName/:jobId/promote': { name: 'promote', access: 'operator' },
  'put /api/queues/:queueName/promote': { name: 'promote_all', access: 'operator' },

  'post /api/queues/:queueName/add': {
    name: 'add',
    access: 'admin',
    changes: (body) => ({ jobName: typeof body.name === 'string' ? body.name.slice(0, 100) : null, ...describeData(body.data), optionKeys: describeData(body.options).dataKeys }),
  },
  'patch /api/queues/:queueName/:jobId/update-data': { name: 'update_data', access: 'admin', changes: (body) => describeData(body.jobData) },
  'patch /api/queues/:queueName/:jobId/delay': { name: 'delay', access: 'admin', changes: (body) => ({ runAt: number(body.runAt) }) },
  'patch /api/queues/:queueName/:jobId/priority': { name: 'priority', access: 'admin', changes: (body) => ({ priority: number(body.priority) }) },
  'put /api/queues/:queueName/:jobId/clean': { name: 'remove', access: 'admin' },
  'put /api/queues/:queueName/:jobId/remove-unprocessed-children': { name: 'remove_children', access: 'admin' },
  'put /api/queues/:queueName/clean/:queueStatus': { name: 'clean', access: 'admin' },
  'put /api/queues/:queueName/empty': { name: 'empty', access: 'admin' },
  'put /api/queues/pause': { name: 'pause_all', access: 'admin' },
  'put /api/queues/resume': { name: 'resume_all', access: 'admin' },
  'put /api/queues/:queueName/pause': { name: 'pause', access: 'admin' },
  'put /api/queues/:queueName/resume': { name: 'resume', access: 'admin' },
  'put /api/queues/:queueName/concurrency': { name: 'concurrency', access: 'admin', changes: (body) => ({ concurrency: number(body.concurrency) }) },
  'put /api/queues/:queueName/rate-limit': { name: 'rate_limit', access: 'admin', changes: (body) => ({ max: number(body.max), duration: number(body.duration) }) },
  'put /api/queues/:queueName/rate-limit/release': { name: 'rate_limit_release', access: 'admin' },
  'put /api/queues/:queueName/job-schedulers/:schedulerId/run': { name: 'scheduler_run', access: 'admin' },

  'put /api/queues/:queueName/obliterate': {
    name: 'obliterate',
    access: 'off',
    instead: 'it deletes the queue itself with every job and scheduler. To drop waiting jobs an admin uses Empty; stored events stay in the inbox and can be replayed.',
  },
  'patch /api/queues/:queueName/job-schedulers/:schedulerId': {
    name: 'scheduler_update',
    access: 'off',
    instead: 'the workers set the schedule from their configuration at every start (EVENT_RETENTION_INTERVAL_MS), so an edit here would be undone silently: change the setting instead.',
  },
  'put /api/queues/:queueName/job-schedulers/:schedulerId/remove': {
    name: 'scheduler_remove',
    access: 'off',
    instead: 'the workers set the schedule from their configuration at every start, so removing it here would last until the next deploy: change the setting instead.',
  },
};

/** A write the table does not name: admin-only, audited under its path. */
const UNLISTED: QueueActionPolicy = { name: 'other', access: 'admin' };

export interface QueueAction extends QueueActionPolicy {
  /** bull-board's route, e.g. `put /api/queues/:queueName/:jobId/retry`. */
  route: string;
  params: Record<string, string>;
}

const READS = new Set(['GET', 'HEAD']);
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The write routes bull-board serves, as `method path`. */
export const boardWriteRoutes = (): string[] =>
  appRoutes.api.flatMap((route) =>
    [route.method]
      .flat()
      .filter((method) => WRITES.has(method.toUpperCase()))
      .flatMap((method) => [route.route].flat().map((path) => `${method} ${path}`)),
  );

/**
 * Finds which bull-board route a request is, with bull-board's own route list matched by an
 * Express router in bull-board's order (the first match wins, as in bull-board: a job id
 * `retry` must not make `.../retry/failed` a single-job retry). Sets res.locals.queueAction.
 */
export function matchQueueAction(): RequestHandler {
  const router = Router();
  for (const route of appRoutes.api) {
    for (const method of [route.method].flat()) {
      for (const path of [route.route].flat()) {
        const key = `${method} ${path}`;
        router[method](path, (req, res, next) => {
          if (!res.locals.queueAction) res.locals.queueAction = { ...(QUEUE_ACTIONS[key] ?? UNLISTED), route: key, params: { ...(req.params as Record<string, string>) } } satisfies QueueAction;
          next();
        });
      }
    }
  }
  return (req, res, next) => {
    if (!WRITES.has(req.method)) {
      next();
      return;
    }
    router(req, res, (error?: unknown) => {
      if (error) {
        next(error);
        return;
      }
      res.locals.queueAction ??= { ...UNLISTED, route: `${req.method.toLowerCase()} ${req.path.slice(0, 200)}`, params: {} } satisfies QueueAction;
      next();
    });
  };
}

export const queueActionOf = (res: Response): QueueAction | undefined => res.locals.queueAction as QueueAction | undefined;

/** Refuses a write the principal's role may not make, on the server, whatever the page shows. */
export const authorizeQueueAction: RequestHandler = (req, res, next) => {
  const action = queueActionOf(res);
  if (READS.has(req.method) || !action) {
    next();
    return;
  }
  if (action.access === 'off') {
    throw new AppError(403, 'queue_action_off', `"${action.name}" is turned off in this queue UI, for admins too: ${action.instead ?? 'the service owns this.'}`, { action: action.name });
  }
  if (action.access === 'admin' && req.principal?.role !== 'admin') {
    throw new AppError(
      403,
      'forbidden',
      `"${action.name}" needs an admin token; operators may look at every queue and retry or promote jobs. To run a failed event again use Retry (or billed-ops replay); ask an admin for anything else.`,
      { action: action.name, needs: 'admin' },
    );
  }
  next();
};
