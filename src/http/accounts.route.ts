import { Router } from 'express';
import type { AccountService } from '../accounts/account.service.js';
import type { ConnectionService } from '../stripe/connection.service.js';
import type { SyncOps } from '../sync/sync-ops.service.js';
import { requireRole, type TokenVerifier } from './auth.middleware.js';

/** Merchant accounts and Settings > Payment Gateways > Stripe. Admin only: this is where keys are pasted. */
export function accountsRouter(deps: { accounts: AccountService; connections: ConnectionService; sync: SyncOps; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const admin = requireRole(deps.verifyToken, 'admin');
  /** The connection, with its webhook endpoint's health as last checked (src/sync/endpoint-health.service.ts). */
  const withHealth = async <T extends object>(accountId: string, connection: T) => ({ ...connection, webhookEndpoint: await deps.sync.endpointView(accountId) });

  router.post('/api/accounts', admin, async (req, res) => {
    res.status(201).json(await deps.accounts.create(req.body));
  });
  router.get('/api/accounts/:id', admin, async (req, res) => {
    res.json(await deps.accounts.get(String(req.params.id)));
  });
  router.put('/api/accounts/:id/stripe', admin, async (req, res) => {
    const body = (req.body ?? {}) as { secretKey?: unknown; webhookSecret?: unknown; webhookEndpointId?: unknown };
    const id = String(req.params.id);
    res.json(await withHealth(id, await deps.connections.connect(id, body)));
  });
  router.get('/api/accounts/:id/stripe', admin, async (req, res) => {
    const id = String(req.params.id);
    res.json(await withHealth(id, await deps.connections.get(id)));
  });
  router.delete('/api/accounts/:id/stripe', admin, async (req, res) => {
    await deps.connections.disconnect(String(req.params.id));
    res.status(204).end();
  });
  return router;
}
