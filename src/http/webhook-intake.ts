import type { IncomingMessage, ServerResponse } from 'node:http';
import { runWithContext } from '../shared/context.js';
import { errorAnswer, payloadTooLarge, type FailureLogs } from './error.middleware.js';
import { requestIdOf } from './request-context.middleware.js';
import { jsonText, SECURITY_HEADERS } from './security-headers.js';
import { receiveWebhook, WEBHOOK_BODY_LIMIT_BYTES, type WebhookDeps } from './webhook.route.js';

/** The canonical paths Stripe posts to; anything else goes through Express. */
const WEBHOOK_PATH = /^\/webhooks\/stripe(?:\/([A-Za-z0-9_-]{1,64}))?$/;

/**
 * The webhook route without Express, in front of it: the most frequent request,
 * on the API's one thread. Express's own work per request (wrapping req and
 * res, routing, body-parser) cost ~110 µs of CPU in a bare comparison; taking
 * the route here cut the API's CPU per webhook in the ingestion bench from
 * 359–371 to 244–278 µs. The answers are
 * Express's to the byte: the same core (receiveWebhook), the same error mapper
 * and format, the same X-Request-Id and log context, the same 1 MB limit (an
 * oversized body is read off before the 413, as body-parser does).
 * Returns false for what it leaves to Express: other methods and paths, and a
 * compressed body (body-parser inflates it and counts the limit inflated).
 */
export function webhookIntake(deps: WebhookDeps & FailureLogs): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const match = WEBHOOK_PATH.exec(query < 0 ? url : url.slice(0, query));
    if (!match) return false;
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;

    const requestId = requestIdOf(header(req, 'x-request-id'));
    res.setHeader('X-Request-Id', requestId);
    // The context is entered when the body is in: 'end' comes from the socket, outside any request's
    // context, and reading the body logs nothing. (AsyncResource.bind on 'end' cost ~12 µs a request.)
    const context = { requestId };
    readBody(req, (raw) =>
      runWithContext(context, () => {
        const accountId = match[1] ?? null;
        const answer = raw
          ? receiveWebhook(deps, raw, header(req, 'stripe-signature'), accountId).then(({ duplicate }) => ({ status: 200, body: { received: true, duplicate } as object }))
          : Promise.reject(payloadTooLarge());
        void answer
          .catch((error: unknown) => errorAnswer(error, deps))
          .then(({ status, body }) => sendJson(res, status, body));
      }),
    );
    return true;
  };
}

/** Node joins a repeated header of these kinds into one string already; the type says it might not. */
const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

/** The whole body, or undefined past the limit (then read off to the end, so the connection can carry the answer). */
function readBody(req: IncomingMessage, done: (raw: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = Number(req.headers['content-length']) > WEBHOOK_BODY_LIMIT_BYTES;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > WEBHOOK_BODY_LIMIT_BYTES) {
      over = true;
      chunks.length = 0;
    } else {
      chunks.push(chunk);
    }
  });
  req.on('end', () => done(over ? undefined : Buffer.concat(chunks, size)));
  // A client that went away gets no answer; the error must not go unhandled.
  req.on('error', () => {});
}

/** As Express's res.json answers (app.ts: json escape, the security headers), to the byte. */
function sendJson(res: ServerResponse, status: number, body: object): void {
  if (res.headersSent || res.destroyed) return;
  const text = jsonText(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
