import { Router, type Request } from 'express';
import type { AccountService } from '../accounts/account.service.js';
import type { ConnectionService } from '../stripe/connection.service.js';
import type { SyncOps } from '../sync/sync-ops.service.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import { onlyAccount, requireRole, requireUnscoped, type TokenVerifier } from './auth.middleware.js';

/**
 * Merchant accounts and Settings > Payment Gateways > Stripe and > PayPal. Admin only: this is
 * where keys are pasted. An admin token confined to one account manages that account's
 * connections only: any other account id is 404 account_not_found, as a missing one; it cannot
 * create accounts.
 */
export function accountsRouter(deps: {
  accounts: AccountService;
  connections: ConnectionService;
  paypalConnections: PaypalConnectionService;
  sync: SyncOps;
  verifyToken: TokenVerifier;
}): Router {
  const router = Router();
  const admin = requireRole(deps.verifyToken, 'admin');
  /** The connection, with its webhook endpoint's health as last checked (src/sync/endpoint-health.service.ts). */
  const withHealth = async <T extends object>(accountId: string, connection: T) => ({ ...connection, webhookEndpoint: await deps.sync.endpointView(accountId) });

  /** The account in the path, once a scoped token is known to see it (unscoped: the services say whether it exists). */
  const accountIn = async (req: Request): Promise<string> => {
    const id = String(req.params.id);
    const only = onlyAccount(req);
    if (only) await deps.accounts.get(id, only);
    return id;
  };

  router.post('/api/accounts', admin, requireUnscoped, async (req, res) => {
    res.status(201).json(await deps.accounts.create(req.body));
  });
  router.get('/api/accounts', admin, async (req, res) => {
    res.json(await deps.accounts.list(onlyAccount(req)));
  });
  router.get('/api/accounts/:id', admin, async (req, res) => {
    res.json(await deps.accounts.get(String(req.params.id), onlyAccount(req)));
  });
  router.put('/api/accounts/:id/stripe', admin, async (req, res) => {
    const body = (req.body ?? {}) as { secretKey?: unknown; webhookSecret?: unknown; webhookEndpointId?: unknown };
    const id = await accountIn(req);
    res.json(await withHealth(id, await deps.connections.connect(id, body, { nameHolder: !onlyAccount(req) })));
  });
  router.get('/api/accounts/:id/stripe', admin, async (req, res) => {
    const id = await accountIn(req);
    res.json(await withHealth(id, await deps.connections.get(id)));
  });
  router.delete('/api/accounts/:id/stripe', admin, async (req, res) => {
    await deps.connections.disconnect(await accountIn(req));
    res.status(204).end();
  });
  router.put('/api/accounts/:id/paypal', admin, async (req, res) => {
    const body = (req.body ?? {}) as { clientId?: unknown; clientSecret?: unknown; mode?: unknown };
    const id = await accountIn(req);
    res.json(await deps.paypalConnections.connect(id, body, { nameHolder: !onlyAccount(req) }));
  });
  router.get('/api/accounts/:id/paypal', admin, async (req, res) => {
    res.json(await deps.paypalConnections.get(await accountIn(req)));
  });
  router.delete('/api/accounts/:id/paypal', admin, async (req, res) => {
    await deps.paypalConnections.disconnect(await accountIn(req));
    res.status(204).end();
  });
  return router;
}
