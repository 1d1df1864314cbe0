import { Router } from 'express';
import type { DataSource } from 'typeorm';
import { StripeEventEntity } from '../events/stripe-event.entity';
import { eventView } from '../events/event-view';
import { AppError } from '../shared/errors';
import { requireRole, type TokenVerifier } from './auth.middleware';

/** On-call: the processing record of one event. */
export function opsEventsRouter(deps: { dataSource: DataSource; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const events = deps.dataSource.getRepository(StripeEventEntity);

  router.get('/api/ops/events/:eventId', requireRole(deps.verifyToken, 'operator'), async (req, res) => {
    const record = await events.findOneBy({ id: String(req.params.eventId) });
    if (!record) {
      throw new AppError(404, 'event_not_found', `No stored event "${req.params.eventId}": check the id (evt_...) in the Stripe Dashboard.`);
    }
    res.json(eventView(record));
  });

  return router;
}
