import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { AppError, describeError, echo } from '../shared/errors.js';
import { currentContext } from '../shared/context.js';
import type { Logger } from '../shared/logger.js';
import type { RateLimitedLog } from '../shared/rate-limited-log.js';

/**
 * Where a failed request (5xx) is logged. An unexpected error is a bug: every one is logged, with
 * what was thrown. An expected one (an AppError: the code knows the cause, e.g. storage_unavailable
 * while MySQL is down, webhook_not_configured) goes to `expected`, keyed by its cause: once per
 * interval with a count of the others, so an outage under Stripe's retries is a few lines, not one
 * per request.
 */
export interface FailureLogs {
  logger: Logger;
  expectedFailures: RateLimitedLog;
}

const noRoute = (req: Request) => new AppError(404, 'not_found', `No route ${req.method} ${echo(req.path)}: see the API in docs/api.md.`);

export const notFound: RequestHandler = (req) => {
  throw noRoute(req);
};

/**
 * Nothing here serves CORS, so OPTIONS has no use; Express would answer it by itself with the
 * path's methods (Allow: GET, HEAD, POST), telling anyone which routes exist. Every OPTIONS is the
 * 404 of a path that does not exist, token or not.
 */
export const refuseOptions: RequestHandler = (req, _res, next) => {
  if (req.method === 'OPTIONS') throw noRoute(req);
  next();
};

/** The one error mapper: AppError → its status and code; body-parser errors → 4xx; anything else → 500 with the request id. */
export function errorHandler(logs: FailureLogs): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const { status, body } = errorAnswer(error, logs);
    if (res.headersSent) return;
    res.status(status).json(body);
  };
}

/** The status and JSON body answering `error` (logged when it is ours, a 5xx); shared with the webhook intake. */
export function errorAnswer(error: unknown, logs: FailureLogs): { status: number; body: { error: Record<string, unknown> } } {
  const mapped = toAppError(error);
  if (mapped.status >= 500) {
    // The message names the cause's particulars (which account has no secret): part of the key.
    if (error instanceof AppError) logs.expectedFailures(`${mapped.code}: ${mapped.message}`, { code: mapped.code });
    else logs.logger.error('request failed', { code: mapped.code, error: describeError(error) });
  }
  return { status: mapped.status, body: { error: { code: mapped.code, message: mapped.message, ...mapped.details } } };
}

export const payloadTooLarge = () =>
  new AppError(413, 'payload_too_large', 'The body is larger than the route accepts: 1 MB for webhooks (Stripe events are far smaller), 100 kB for /api.');

function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const type = (error as { type?: string } | null)?.type;
  if (type === 'entity.too.large') return payloadTooLarge();
  if (type === 'entity.parse.failed') {
    return new AppError(400, 'invalid_json', 'The body is not valid JSON: send Content-Type: application/json with a JSON object.');
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new AppError(415, 'unsupported_encoding', 'Send the body as UTF-8 without a content encoding the service does not know.');
  }
  if (error instanceof URIError) {
    return new AppError(400, 'invalid_path', 'The URL has broken percent-encoding: encode ids with encodeURIComponent.');
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new AppError(400, 'invalid_encoding', 'The body says Content-Encoding: gzip (or deflate) but is not compressed that way: send it uncompressed.');
  }
  // Any other client error a library marks as safe to show (http-errors' `expose`) stays a 4xx.
  const status = (error as { status?: unknown; expose?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500 && (error as { expose?: unknown }).expose) {
    return new AppError(status, 'bad_request', `The request could not be read: ${echo((error as Error).message, 200)}.`);
  }
  const requestId = currentContext()?.requestId;
  return new AppError(500, 'internal_error', `Something went wrong on our side; quote request id ${requestId ?? 'unknown'} when reporting it.`);
}
