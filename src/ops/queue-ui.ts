import { Router, type RequestHandler } from 'express';
import { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { requireRole, type TokenVerifier } from '../http/auth.middleware.js';
import { AppError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { OpsServices } from './ops.services.js';
import { MAINTENANCE_QUEUE_NAME } from './retention.js';
import { PAYOUT_QUEUE_NAME } from '../reconciliation/payout-queue.js';

export const QUEUE_UI_PATH = '/ops/queues';
const COOKIE = 'billed_ops_token';
/** One on-call shift. */
const COOKIE_MAX_AGE_S = 8 * 3600;

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/**
 * A browser cannot add an Authorization header to a page load, so the UI also
 * takes the token once as `?token=`: it is checked like any bearer token, put
 * in an HttpOnly, SameSite=Strict cookie scoped to this path (no script can
 * read it, no other site can send it), and the browser is redirected to the
 * same URL without it, so the token does not stay in the address bar or history.
 */
const tokenFromQueryOrCookie: RequestHandler = (req, res, next) => {
  if (!req.get('authorization')) {
    // Only a page load may carry it: a redirect would turn any other method into a GET.
    const fromQuery = req.method === 'GET' && typeof req.query.token === 'string' ? req.query.token : undefined;
    const token = fromQuery ?? cookieValue(req.get('cookie'), COOKIE);
    if (token) req.headers.authorization = `Bearer ${token}`;
    res.locals.tokenFromQuery = fromQuery;
  }
  next();
};

const rememberQueryToken: RequestHandler = (req, res, next) => {
  const token = res.locals.tokenFromQuery as string | undefined;
  if (!token) return next();
  const secure = req.secure ? '; Secure' : '';
  res.setHeader('Set-Cookie', `${COOKIE}=${encodeURIComponent(token)}; Path=${QUEUE_UI_PATH}; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_S}${secure}`);
  const url = new URL(req.originalUrl, 'http://local');
  url.searchParams.delete('token');
  res.redirect(303, `${url.pathname}${url.search}`);
};

/** @bull-board at /ops/queues for operators; every change made through it (retry, remove, clean…) is audited. */
export function queueUiRouter(deps: { ops: OpsServices; verifyToken: TokenVerifier; logger: Logger }): Router {
  const router = Router();
  let board: Router | undefined;

  /** Built on first use: BullMQ queues must not be built before Redis has answered (see EventPublisher). */
  const boardRouter = (): Router => {
    if (board) return board;
    const eventQueue = deps.ops.publisher.currentQueue();
    if (!eventQueue) {
      throw new AppError(503, 'queue_unavailable', 'Redis has not been reachable since this process started: check REDIS_URL and /readyz, then reload.');
    }
    const queue = (name: string) => {
      const built = new Queue(name, { connection: deps.ops.redis, prefix: deps.ops.queuePrefix });
      built.on('error', deps.ops.redisHealth.errorListener(`${name} queue error`));
      return new BullMQAdapter(built);
    };
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath(QUEUE_UI_PATH);
    createBullBoard({
      queues: [new BullMQAdapter(eventQueue), queue(PAYOUT_QUEUE_NAME), queue(MAINTENANCE_QUEUE_NAME)],
      serverAdapter,
      options: { uiConfig: { boardTitle: 'Billed queues' } },
    });
    board = serverAdapter.getRouter() as Router;
    return board;
  };

  const audit: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.on('finish', () => {
        if (res.statusCode >= 400 || !req.principal) return;
        deps.ops.audit
          .record({ actor: req.principal, action: 'queue_ui.change', target: req.path.slice(0, 255), details: { method: req.method } })
          .catch((error: unknown) => deps.logger.error('could not audit a queue UI change', { error: describeError(error) }));
      });
    }
    next();
  };

  router.use(QUEUE_UI_PATH, tokenFromQueryOrCookie, requireRole(deps.verifyToken, 'operator'), rememberQueryToken, audit, (req, res, next) =>
    boardRouter()(req, res, next),
  );
  return router;
}
