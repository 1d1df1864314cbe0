import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * helmet's defaults, less two: no upgrade-insecure-requests (the dashboard is often opened over
 * plain http on an internal address, where the upgrade would break its script and styles) and no
 * HSTS (TLS belongs to the proxy in front).
 */
const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  strictTransportSecurity: false,
};

/**
 * The headers helmet sets with these options, found once at start-up by running its middleware on
 * a stand-in response. They depend on the options alone (no directive here is a function of the
 * request), so every answer can carry them for the cost of setting a dozen constant headers,
 * without running helmet's chain of middlewares per request (the webhook path is the hottest).
 */
function helmetHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers = new Map<string, string>();
  const res = {
    setHeader: (name: string, value: string | number) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
  };
  let done = false;
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error instanceof Error ? error : new Error(String(error));
    done = true;
  });
  // A helmet that one day sets headers later, or per request, must fail here rather than silently set none.
  if (!done || !headers.has('X-Content-Type-Options')) throw new Error('helmet did not set its headers synchronously: run helmet() as a middleware instead');
  return Object.freeze(Object.fromEntries(headers));
}

/** Every answer's security headers (nosniff, CSP, frame and referrer policies…). */
export const SECURITY_HEADERS = helmetHeaders(HELMET_OPTIONS);
const ENTRIES = Object.entries(SECURITY_HEADERS);

/** Express: the headers on every answer, errors and sub-apps (the queue UI) included. */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  for (const [name, value] of ENTRIES) res.setHeader(name, value);
  next();
};

const JSON_ESCAPES: Readonly<Record<string, string>> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026' };

/**
 * JSON text with <, > and & escaped, as Express's `json escape` writes it: a value echoed from the
 * request can never read as markup, even to a client that ignores the content type.
 */
export const jsonText = (body: unknown): string => JSON.stringify(body).replace(/[<>&]/g, (c) => JSON_ESCAPES[c]!);
