import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { AppError } from '../shared/errors.js';

export type Role = 'admin' | 'accountant' | 'operator';

export interface Principal {
  id: string;
  name: string;
  role: Role;
  /**
   * The one merchant account this token sees (ma_…), or null for every account, the default one
   * included. A scoped token's requests read and change only that account's objects; another
   * account's object is answered exactly as a missing one (404), so a scope never learns what
   * exists outside it.
   */
  accountId: string | null;
}

/** Looks a bearer token up; null when it is unknown or revoked. */
export type TokenVerifier = (token: string) => Promise<Principal | null>;

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** The bootstrap admin: ADMIN_TOKEN, compared in constant time (hashes have equal length). */
export function adminTokenVerifier(adminToken: string | undefined): TokenVerifier {
  const expected = adminToken ? sha256(adminToken) : undefined;
  return async (token) =>
    expected && timingSafeEqual(sha256(token), expected) ? { id: 'admin', name: 'ADMIN_TOKEN', role: 'admin', accountId: null } : null;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** The bearer token's principal, or a 401 saying what to send. */
async function principalOf(verify: TokenVerifier, authorization: string | undefined): Promise<Principal> {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match?.[1]) {
    throw new AppError(401, 'unauthorized', 'Send Authorization: Bearer <token> (ADMIN_TOKEN or a token from POST /api/tokens).');
  }
  const principal = await verify(match[1]);
  if (!principal) throw new AppError(401, 'unauthorized', 'The bearer token is unknown or revoked: ask an admin for a new one.');
  return principal;
}

/**
 * 401 without a valid bearer token, else `req.principal`. Mounted on /api before any body parser:
 * a request without a valid token is refused before its body is read, so a 401 costs what an
 * empty request costs (parsing 100 kB of JSON first cost ~45× that).
 */
export function authenticate(verify: TokenVerifier): RequestHandler {
  return async (req, _res, next) => {
    req.principal = await principalOf(verify, req.get('authorization'));
    next();
  };
}

/**
 * 403 when the caller's role is not one of `roles` (admin may do everything). The principal is the
 * one `authenticate` found (one token lookup per request); where nothing authenticated first (the
 * queue UI, outside /api), the token is checked here, with the same 401s.
 */
export function requireRole(verify: TokenVerifier, ...roles: Role[]): RequestHandler {
  return async (req, _res, next) => {
    const principal = req.principal ?? (await principalOf(verify, req.get('authorization')));
    if (principal.role !== 'admin' && !roles.includes(principal.role)) {
      throw new AppError(403, 'forbidden', `This needs the ${roles.join(' or ')} role; your token has ${principal.role}.`);
    }
    req.principal = principal;
    next();
  };
}

/**
 * The merchant account a request is confined to: the token's account, or undefined for an
 * unscoped token (every account). Services take it as `onlyAccount` and filter in SQL.
 */
export const onlyAccount = (req: Request): string | undefined => req.principal?.accountId ?? undefined;

/**
 * 403 account_scoped for routes that span every merchant account (tokens, creating accounts, the
 * audit log, the queue UI): they have no one-account view. It names the route, never an object,
 * so it confirms nothing about what exists. Goes after requireRole.
 */
export const requireUnscoped: RequestHandler = (req, _res, next) => {
  const accountId = req.principal?.accountId;
  if (accountId) {
    throw new AppError(
      403,
      'account_scoped',
      `This route spans every merchant account; your token sees account ${accountId} only. Use a token without an account (POST /api/tokens without accountId).`,
    );
  }
  next();
};
