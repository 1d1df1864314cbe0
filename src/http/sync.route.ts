import { Router } from 'express';
import type { SyncOps } from '../sync/sync-ops.service.js';
import { requireRole, requireUnscoped, type Principal, type TokenVerifier } from './auth.middleware.js';

/**
 * On-call: catch-up from Stripe (status, runs on demand and their progress) and webhook endpoint repair. Operators (and admins).
 * Tokens confined to one merchant account get 403 account_scoped here for now: the status and runs
 * span every account, and neither a job nor a repair checks whose account it is.
 */
export function syncRouter(deps: { sync: SyncOps; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const operator = requireRole(deps.verifyToken, 'operator');
  const actor = (principal: Principal | undefined) => principal ?? { id: 'unknown', name: 'unknown', role: 'unknown' };

  router.get('/api/ops/catch-up', operator, requireUnscoped, async (_req, res) => {
    res.json(await deps.sync.status());
  });

  router.post('/api/ops/catch-up', operator, requireUnscoped, async (req, res) => {
    res.status(202).json(await deps.sync.start(req.body, actor(req.principal)));
  });

  router.get('/api/ops/catch-up/jobs/:jobId', operator, requireUnscoped, async (req, res) => {
    res.json(await deps.sync.job(String(req.params.jobId)));
  });

  router.post('/api/accounts/:id/stripe/endpoint/repair', operator, requireUnscoped, async (req, res) => {
    res.json(await deps.sync.repairEndpoint(String(req.params.id), actor(req.principal)));
  });

  return router;
}
