import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, describeError } from '../shared/errors';
import { currentContext } from '../shared/context';
import type { Logger } from '../shared/logger';

export const notFound: RequestHandler = (req) => {
  throw new AppError(404, 'not_found', `No route ${req.method} ${req.path}: see the API in README.md.`);
};

/** The one error mapper: AppError → its status and code; body-parser errors → 4xx; anything else → 500 with the request id. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const mapped = toAppError(error);
    if (mapped.status >= 500) {
      logger.error('request failed', { code: mapped.code, error: describeError(error) });
    }
    if (res.headersSent) return;
    res.status(mapped.status).json({ error: { code: mapped.code, message: mapped.message, ...mapped.details } });
  };
}

function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const type = (error as { type?: string } | null)?.type;
  if (type === 'entity.too.large') {
    return new AppError(413, 'payload_too_large', 'The body is larger than the route accepts (1 MB for webhooks): Stripe events are far smaller.');
  }
  if (type === 'entity.parse.failed') {
    return new AppError(400, 'invalid_json', 'The body is not valid JSON: send Content-Type: application/json with a JSON object.');
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new AppError(415, 'unsupported_encoding', 'Send the body as UTF-8 without a content encoding the service does not know.');
  }
  const requestId = currentContext()?.requestId;
  return new AppError(500, 'internal_error', `Something went wrong on our side; quote request id ${requestId ?? 'unknown'} when reporting it.`);
}
