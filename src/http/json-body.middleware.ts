import type { RequestHandler } from 'express';
import { AppError, echo } from '../shared/errors.js';

/**
 * A body sent with another content type would reach the routes as no body at
 * all, and they would blame a missing field that the client did send.
 */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json') && !req.is('+json')) {
    throw new AppError(415, 'unsupported_media_type', 'Send the body as JSON with Content-Type: application/json.');
  }
  next();
};

/**
 * JSON may escape half a UTF-16 pair ("\ud800"); MySQL would store it as U+FFFD,
 * silently changing the text. Checked for every string in the body at once,
 * without recursion (a body may be nested thousands deep).
 */
export const rejectLoneSurrogates: RequestHandler = (req, _res, next) => {
  const stack: [unknown, string][] = [[req.body, '']];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string') {
      if (/\p{Surrogate}/u.test(value)) {
        throw new AppError(400, 'invalid_text', `${path ? echo(path) : 'The body'} holds half of a UTF-16 surrogate pair (e.g. \\ud800 alone): send well-formed Unicode text.`, {
          field: path ? echo(path) : undefined,
        });
      }
    } else if (value && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) stack.push([child, path ? `${path}.${key}` : key]);
    }
  }
  next();
};
