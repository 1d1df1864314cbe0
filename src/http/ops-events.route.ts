import { Router } from 'express';
import { stringifyWithRaw } from '../shared/raw-json.js';
import type { OpsServices } from '../ops/ops.services.js';
import { parseEventListQuery, parseReplayFilter } from '../ops/event-query.schema.js';
import { parseAuditQuery } from '../ops/audit-log.js';
import { parseAccountChoice } from '../ops/event-copies.js';
import { onlyAccount, requireRole, requireUnscoped, type Principal, type TokenVerifier } from './auth.middleware.js';

/**
 * On-call: find events, read one event's story, replay, and read the audit log. Operators (and admins) only.
 * A token confined to one merchant account finds, reads and replays that account's events only; the
 * audit log spans every account, so it is for unscoped tokens.
 */
export function opsEventsRouter(deps: { ops: OpsServices; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const operator = requireRole(deps.verifyToken, 'operator');
  const { events, replay, audit } = deps.ops;
  const actor = (principal: Principal | undefined) => principal ?? { id: 'unknown', name: 'unknown', role: 'unknown' };

  router.get('/api/ops/events', operator, async (req, res) => {
    res.json(await events.list(parseEventListQuery(req.query), onlyAccount(req)));
  });

  // ?accountId=ma_… or ?accountId=default chooses the copy of an event id stored for several accounts (else 409 event_ambiguous).
  router.get('/api/ops/events/:eventId', operator, async (req, res) => {
    res.type('json').send(stringifyWithRaw(await events.detail(String(req.params.eventId), parseAccountChoice(req.query.accountId), onlyAccount(req))));
  });

  router.post('/api/ops/events/:eventId/replay', operator, async (req, res) => {
    res.status(202).json(await replay.replayOne(String(req.params.eventId), actor(req.principal), parseAccountChoice(req.query.accountId), onlyAccount(req)));
  });

  router.post('/api/ops/replay', operator, async (req, res) => {
    const filter = parseReplayFilter(req.body);
    const result = await replay.replayMatching(filter, actor(req.principal), onlyAccount(req));
    res.status(filter.dryRun ? 200 : 202).json(result);
  });

  router.get('/api/ops/audit', operator, requireUnscoped, async (req, res) => {
    res.json(await audit.list(parseAuditQuery(req.query)));
  });

  return router;
}
