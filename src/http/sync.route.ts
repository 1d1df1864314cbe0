import { Router } from 'express';
import type { SyncOps } from '../sync/sync-ops.service.js';
import { onlyAccount, requireRole, type Principal, type TokenVerifier } from './auth.middleware.js';

/**
 * On-call: catch-up from Stripe and PayPal (status, runs on demand and their progress) and Stripe webhook endpoint repair. Operators (and admins).
 * A token confined to one merchant account sees, runs and repairs that account's only; another
 * account's (the default one's too) answers as a missing one.
 */
export function syncRouter(deps: { sync: SyncOps; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const operator = requireRole(deps.verifyToken, 'operator');
  const actor = (principal: Principal | undefined) => principal ?? { id: 'unknown', name: 'unknown', role: 'unknown' };

  router.get('/api/ops/catch-up', operator, async (req, res) => {
    res.json(await deps.sync.status(onlyAccount(req)));
  });

  router.post('/api/ops/catch-up', operator, async (req, res) => {
    res.status(202).json(await deps.sync.start(req.body, actor(req.principal), onlyAccount(req)));
  });

  router.get('/api/ops/catch-up/jobs/:jobId', operator, async (req, res) => {
    res.json(await deps.sync.job(String(req.params.jobId), onlyAccount(req)));
  });

  router.post('/api/accounts/:id/stripe/endpoint/repair', operator, async (req, res) => {
    res.json(await deps.sync.repairEndpoint(String(req.params.id), actor(req.principal), onlyAccount(req)));
  });

  return router;
}
