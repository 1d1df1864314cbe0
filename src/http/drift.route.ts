import { Router } from 'express';
import type { DriftService } from '../drift/drift.service.js';
import { driftCsv } from '../drift/drift.csv.js';
import { AppError } from '../shared/errors.js';
import { onlyAccount, requireRole, type Principal, type TokenVerifier } from './auth.middleware.js';

/**
 * On-call: the drift check (what the service holds against what Stripe lists) and its repair.
 * Operators (and admins). A token confined to one merchant account checks and repairs that account only.
 */
export function driftRouter(deps: { drift: DriftService; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const operator = requireRole(deps.verifyToken, 'operator');
  const actor = (principal: Principal | undefined) => principal ?? { id: 'unknown', name: 'unknown', role: 'unknown' };

  router.get('/api/ops/drift', operator, async (req, res) => {
    // A repair changes the books: it is a POST, audited, never a side effect of a GET.
    if (req.query.repair !== undefined) {
      throw new AppError(400, 'repair_needs_post', 'To repair, POST /api/ops/drift/repair with {"accountId", "from", "to"} (the CLI: billed-ops drift --repair).', { field: 'repair' });
    }
    const report = await deps.drift.check(req.query, onlyAccount(req));
    const { format, ...body } = report;
    if (format === 'json') {
      res.json(body);
      return;
    }
    res.type('text/csv; charset=utf-8');
    res.attachment(`drift-${body.account}-${body.from.slice(0, 10)}-${body.to.slice(0, 10)}.csv`);
    res.send(driftCsv(body));
  });

  router.post('/api/ops/drift/repair', operator, async (req, res) => {
    res.json(await deps.drift.repair(req.body, actor(req.principal), onlyAccount(req)));
  });

  return router;
}
