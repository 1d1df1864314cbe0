import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../shared/errors.js';

export type Role = 'admin' | 'accountant' | 'operator';

export interface Principal {
  id: string;
  name: string;
  role: Role;
}

/** Looks a bearer token up; null when it is unknown or revoked. */
export type TokenVerifier = (token: string) => Promise<Principal | null>;

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** The bootstrap admin: ADMIN_TOKEN, compared in constant time (hashes have equal length). */
export function adminTokenVerifier(adminToken: string | undefined): TokenVerifier {
  const expected = adminToken ? sha256(adminToken) : undefined;
  return async (token) =>
    expected && timingSafeEqual(sha256(token), expected) ? { id: 'admin', name: 'ADMIN_TOKEN', role: 'admin' } : null;
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
