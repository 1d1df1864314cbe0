import type { Request, RequestHandler } from 'express';
import { AppError } from '../shared/errors.js';

/** Enough of a foreign origin to say which it was, without echoing whatever a client sends. */
const shown = (value: string) => (value.length > 100 ? `${value.slice(0, 100)}…` : value);

/** `scheme://host[:port]`, normalised as browsers send it (default port dropped, host lower case); undefined when unparsable. */
function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * This service's own origin as the browser sees it: req.protocol follows X-Forwarded-Proto only
 * from the hops TRUST_PROXY names, and Host is the address the browser asked for (a proxy must
 * pass it through).
 */
const ownOrigin = (req: Request) => originOf(`${req.protocol}://${req.get('host') ?? ''}`);

const HOW_TO_FIX =
  "Make the change from this service's own pages; behind a TLS proxy set TRUST_PROXY and have the proxy pass the Host header; " +
  'a script sends Authorization: Bearer <token> instead of the cookie.';

/**
 * CSRF defence for requests signed in by a cookie (the queue UI). SameSite=Strict keeps other
 * sites' requests from carrying the cookie, but not a sibling subdomain's (same site, other
 * origin), so every such request that changes something (anything but GET and HEAD) must say it
 * comes from this origin: by `Origin`, or `Referer` when a browser sent no Origin; neither is
 * refused. `byCookie` says whether a request is one: a request with an Authorization header is
 * not (a page on another origin cannot add that header without a CORS preflight this service
 * never grants), nor one with no credentials at all (it is answered 401 anyway).
 */
export function requireSameOrigin(byCookie: (req: Request) => boolean): RequestHandler {
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || !byCookie(req)) {
      next();
      return;
    }
    const origin = req.get('origin');
    const referer = req.get('referer');
    if (origin === undefined && referer === undefined) {
      throw new AppError(403, 'origin_missing', `A change made with the sign-in cookie must say where it comes from (an Origin or Referer header) and this request says neither. ${HOW_TO_FIX}`);
    }
    const claimed = origin ?? referer!;
    const expected = ownOrigin(req);
    if (!expected || originOf(claimed) !== expected) {
      throw new AppError(
        403,
        'origin_mismatch',
        `This change comes from ${JSON.stringify(shown(claimed))} (its ${origin === undefined ? 'Referer' : 'Origin'}), not from this service (${expected ?? 'unknown host'}): changes made with the sign-in cookie are taken only from this service's own pages. ${HOW_TO_FIX}`,
        { expectedOrigin: expected ?? null },
      );
    }
    next();
  };
}
