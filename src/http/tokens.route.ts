import { Router } from 'express';
import type { OpsServices } from '../ops/ops.services.js';
import { parseCreateToken } from '../access/token.service.js';
import { requireRole, requireUnscoped, type TokenVerifier } from './auth.middleware.js';

/**
 * Access tokens: admins create (the secret is in this one answer only), list and revoke them.
 * Unscoped admins only: a token confined to one merchant account must not mint tokens (one
 * without an account would escape its scope) nor see or revoke other accounts' tokens.
 */
export function tokensRouter(deps: { ops: OpsServices; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const admin = requireRole(deps.verifyToken, 'admin');
  const { tokens, audit } = deps.ops;

  router.post('/api/tokens', admin, requireUnscoped, async (req, res) => {
    const input = parseCreateToken(req.body);
    const created = await tokens.create(input, req.principal!);
    await audit.record({ actor: req.principal!, action: 'token.create', target: created.id, count: 1, details: { name: created.name, role: created.role, accountId: created.accountId } });
    res.status(201).json(created);
  });

  router.get('/api/tokens', admin, requireUnscoped, async (_req, res) => {
    res.json(await tokens.list());
  });

  router.delete('/api/tokens/:id', admin, requireUnscoped, async (req, res) => {
    const revoked = await tokens.revoke(String(req.params.id), req.principal!);
    if (!revoked.alreadyRevoked) {
      await audit.record({ actor: req.principal!, action: 'token.revoke', target: revoked.id, count: 1, details: { name: revoked.name, role: revoked.role } });
    }
    res.status(204).end();
  });

  return router;
}
