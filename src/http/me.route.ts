import { Router } from 'express';
import type { AccountService } from '../accounts/account.service.js';
import { requireRole, type TokenVerifier } from './auth.middleware.js';

/**
 * GET /api/me: what the caller's token is (never its secret): its role and, for a token confined
 * to one merchant account, which one. The dashboard labels its data with it; scripts check the
 * token they were given. Any valid token.
 */
export function meRouter(deps: { accounts: AccountService; verifyToken: TokenVerifier }): Router {
  const router = Router();
  router.get('/api/me', requireRole(deps.verifyToken, 'accountant', 'operator'), async (req, res) => {
    const { id, name, role, accountId } = req.principal!;
    const account = accountId ? await deps.accounts.get(accountId) : null;
    res.json({ id, name, role, accountId, account: account && { id: account.id, name: account.name } });
  });
  return router;
}
