import express, { Router, type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { requireRole, requireUnscoped, type TokenVerifier } from '../http/auth.middleware.js';
import { requireSameOrigin } from '../http/same-origin.middleware.js';
import { errorAnswer, type FailureLogs } from '../http/error.middleware.js';
import { AppError } from '../shared/errors.js';
import type { OpsServices } from './ops.services.js';
import { MAINTENANCE_QUEUE_NAME } from './retention.js';
import { PAYOUT_QUEUE_NAME } from '../reconciliation/payout-queue.js';
import { SYNC_QUEUE_NAME } from '../sync/sync.queue.js';
import { authorizeQueueAction, matchQueueAction } from './queue-ui-actions.js';
import { auditQueueChanges } from './queue-ui-audit.js';
import { eventRetryHandler } from './queue-ui-event-retry.js';

export const QUEUE_UI_PATH = '/ops/queues';
const COOKIE = 'billed_ops_token';
/** One on-call shift. */
const COOKIE_MAX_AGE_S = 8 * 3600;

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) {
      try {
        return decodeURIComponent(value.join('='));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * A browser cannot add an Authorization header to a page load, so the UI takes the token once,
 * in the body of a form POST to /ops/queues/login (never in a URL: URLs land in proxy access logs
 * and browser history), checks it like any bearer token, and keeps it in an HttpOnly,
 * SameSite=Strict cookie scoped to this path (no script can read it, no other site can send it,
 * though a sibling subdomain can: hence the origin check on changes), Secure when the request
 * came over https (behind a proxy: TRUST_PROXY).
 */
const signedInByCookie = new WeakSet<Request>();

const tokenFromCookie: RequestHandler = (req, _res, next) => {
  if (!req.get('authorization')) {
    const token = cookieValue(req.get('cookie'), COOKIE);
    if (token) {
      req.headers.authorization = `Bearer ${token}`;
      signedInByCookie.add(req);
    }
  }
  next();
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The login form: no script (helmet's CSP stays as it is), posts to itself. */
function loginPage(note?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Billed queues: sign in</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>Billed queues</h1>
${note ? `<p role="alert" style="border: 1px solid #c00; padding: .5rem">${escapeHtml(note)}</p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<label for="token">Operator or admin token</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" required style="width: 100%; margin: .5rem 0">
<button type="submit">Sign in</button>
</form>
<p>The token is kept in a cookie for this page only, for 8 hours. Ask an admin for an operator token (POST /api/tokens).</p>
</body></html>
`;
}

const URL_TOKEN_NOTE = 'A token in the address (?token=) is no longer accepted: addresses land in proxy logs and browser history. Paste it in the form below; then revoke the token you put in the address (DELETE /api/tokens/:id) and use a new one.';

export const LOGIN_PATH = `${QUEUE_UI_PATH}/login`;

/**
 * helmet's `Referrer-Policy: no-referrer` makes a browser send `Origin: null` with a form POST,
 * even to its own origin, and the origin check would then refuse the login form. `same-origin`
 * sends the origin (and referrer) to this service only, still nothing to other sites.
 */
const sameOriginReferrers: RequestHandler = (_req, res, next) => {
  res.setHeader('Referrer-Policy', 'same-origin');
  next();
};

/**
 * Refusals of the board's API calls, in the service's error format plus what bull-board's page
 * shows in its error toast (`error.key` as the title, `message` as the text), so an operator
 * clicking a button an admin keeps reads why.
 */
function boardApiErrors(logs: FailureLogs): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const { status, body } = errorAnswer(error, logs);
    res.status(status).json({ ...body, error: { ...body.error, key: body.error.code }, message: body.error.message });
  };
}

/**
 * @bull-board at /ops/queues: operators look, retry and promote; other changes are an admin's
 * (src/ops/queue-ui-actions.ts); a Retry of an event job is a replay; every change is audited.
 */
export function queueUiRouter(deps: { ops: OpsServices; verifyToken: TokenVerifier } & FailureLogs): Router {
  const router = Router();
  let board: Router | undefined;

  /** Built on first use: BullMQ queues must not be built before Redis has answered (see EventPublisher). */
  const boardRouter = (): Router => {
    if (board) return board;
    const eventQueues = deps.ops.publisher.currentQueues();
    if (eventQueues.length === 0) {
      throw new AppError(503, 'queue_unavailable', 'Redis has not been reachable since this process started: check REDIS_URL and /readyz, then reload.');
    }
    const queue = (name: string) => {
      const built = new Queue(name, { connection: deps.ops.redis, prefix: deps.ops.queues.prefixOf(name) });
      built.on('error', deps.ops.redisHealth.errorListener(`${name} queue error`));
      return new BullMQAdapter(built);
    };
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath(QUEUE_UI_PATH);
    createBullBoard({
      // Every shard of the event queue (QUEUE_SHARDS), shard 0 (stripe-events) first.
      queues: [...eventQueues.map((eventQueue) => new BullMQAdapter(eventQueue)), queue(PAYOUT_QUEUE_NAME), queue(MAINTENANCE_QUEUE_NAME), queue(SYNC_QUEUE_NAME)],
      serverAdapter,
      options: { uiConfig: { boardTitle: 'Billed queues' } },
    });
    board = (serverAdapter.getRouter() as express.Express).disable('x-powered-by') as unknown as Router; // bull-board's own Express app would announce itself
    return board;
  };

  router.use(QUEUE_UI_PATH, sameOriginReferrers);
  router.get(LOGIN_PATH, (req, res) => {
    res.status(200).type('html').send(loginPage(req.query.token !== undefined ? URL_TOKEN_NOTE : undefined));
  });
  // The sign-in form is checked too: a cross-site POST of someone else's token would sign the victim in as them.
  router.post(LOGIN_PATH, requireSameOrigin(() => true), express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 }), async (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    const token = typeof body?.token === 'string' ? body.token.trim() : '';
    if (!token) {
      res.status(400).type('html').send(loginPage('Paste an operator or admin token.'));
      return;
    }
    const principal = /\s/.test(token) ? null : await deps.verifyToken(token);
    if (!principal || (principal.role !== 'operator' && principal.role !== 'admin')) {
      const why = principal ? `This token has the ${principal.role} role; the queues need operator (or admin).` : 'That token is unknown or revoked: ask an admin for an operator token.';
      res.status(principal ? 403 : 401).type('html').send(loginPage(why));
      return;
    }
    if (principal.accountId) {
      // The queues hold every merchant's jobs: a token confined to one account gets no cookie for them.
      res.status(403).type('html').send(loginPage('This token sees one merchant account only; the queues hold every account\'s jobs. Use a token without an account.'));
      return;
    }
    const secure = req.secure ? '; Secure' : '';
    res.setHeader('Set-Cookie', `${COOKIE}=${encodeURIComponent(token)}; Path=${QUEUE_UI_PATH}; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_S}${secure}`);
    // Only ever this fixed path: a redirect target taken from the request would make this an open redirect.
    res.redirect(303, `${QUEUE_UI_PATH}/`);
  });
  // A token in the URL is refused before it can authenticate anything: the login page says why.
  router.get(QUEUE_UI_PATH, (req, res, next) => {
    if (req.query.token !== undefined) {
      res.status(401).type('html').send(loginPage(URL_TOKEN_NOTE));
      return;
    }
    // A browser with neither a token nor the cookie goes to the form; API clients keep their 401.
    if (!req.get('authorization') && !cookieValue(req.get('cookie'), COOKIE) && /text\/html/.test(req.get('accept') ?? '')) {
      res.redirect(303, LOGIN_PATH);
      return;
    }
    next();
  });
  router.use(
    QUEUE_UI_PATH,
    tokenFromCookie,
    requireRole(deps.verifyToken, 'operator'),
    requireUnscoped,
    requireSameOrigin((req) => signedInByCookie.has(req)),
    matchQueueAction(),
    authorizeQueueAction,
    auditQueueChanges({ audit: deps.ops.audit, logger: deps.logger }),
    eventRetryHandler({ replay: deps.ops.replay, eventQueue: (name) => deps.ops.publisher.queueNamed(name), isEventQueue: deps.ops.queues.isEventQueue, logger: deps.logger }),
    (req, res, next) => boardRouter()(req, res, next),
  );
  router.use(`${QUEUE_UI_PATH}/api`, boardApiErrors(deps));
  return router;
}
