import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { runWithContext } from '../shared/context.js';

/** A sane incoming X-Request-Id is kept; anything else gets a fresh id. */
export const requestIdOf = (incoming: string | undefined): string =>
  incoming && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();

/** Every request gets an id, echoed back and carried by its log lines. */
export const requestContext: RequestHandler = (req, res, next) => {
  const requestId = requestIdOf(req.get('x-request-id'));
  res.setHeader('X-Request-Id', requestId);
  runWithContext({ requestId }, () => next());
};
