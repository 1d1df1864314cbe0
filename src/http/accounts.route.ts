import { Router } from 'express';
import type { AccountService } from '../accounts/account.service.js';
import type { ConnectionService } from '../stripe/connection.service.js';
import { requireRole, type TokenVerifier } from './auth.middleware.js';

/** Merchant accounts and Settings > Payment Gateways > Stripe. Admin only: this is where keys are pasted. */
export function accountsRouter(deps: { accounts: AccountService; connections: ConnectionService; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const admin = requireRole(deps.verifyToken, 'admin');

  router.post('/api/accounts', admin, async (req, res) => {
    res.status(201).json(await deps.accounts.create(req.body));
  });
  router.get('/api/accounts/:id', admin, async (req, res) => {
    res.json(await deps.accounts.get(String(req.params.id)));
  });
  router.put('/api/accounts/:id/stripe', admin, async (req, res) => {
    const body = (req.body ?? {}) as { secretKey?: unknown; webhookSecret?: unknown };
    res.json(await deps.connections.connect(String(req.params.id), body));
  });
  router.get('/api/accounts/:id/stripe', admin, async (req, res) => {
    res.json(await deps.connections.get(String(req.params.id)));
  });
  router.delete('/api/accounts/:id/stripe', admin, async (req, res) => {
    await deps.connections.disconnect(String(req.params.id));
    res.status(204).end();
  });
  return router;
}
