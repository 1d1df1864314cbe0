import express, { Router, type Request, type Response } from 'express';
import { verifyStripeSignature } from '../stripe/verify-signature';
import type { WebhookSecretResolver } from '../stripe/webhook-secrets';
import { parseEventEnvelope } from '../events/stripe-event-envelope';
import type { Ingestor } from '../events/ingest';
import { AppError } from '../shared/errors';
import type { Metrics } from '../shared/metrics';

export const WEBHOOK_BODY_LIMIT = '1mb';

/**
 * POST /webhooks/stripe[/:accountId]. Mounted before any JSON parser: the
 * signature covers the raw bytes. Verify, store, enqueue, answer; the worker
 * does everything else.
 */
export function webhookRouter(deps: { resolveSecrets: WebhookSecretResolver; ingestor: Ingestor; metrics: Metrics }): Router {
  const router = Router();
  const rawBody = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });

  const receive = async (req: Request, res: Response, accountId: string | null) => {
    try {
      const secrets = await deps.resolveSecrets(accountId);
      const body: unknown = req.body;
      const raw = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
      const json = verifyStripeSignature(raw, req.get('stripe-signature'), secrets);
      const envelope = parseEventEnvelope(json);
      const { duplicate } = await deps.ingestor.ingest({ ...envelope, accountId, payload: raw.toString('utf8') });
      deps.metrics.webhooksReceived.inc({ outcome: duplicate ? 'duplicate' : 'stored' });
      res.status(200).json({ received: true, duplicate });
    } catch (error) {
      deps.metrics.webhooksReceived.inc({ outcome: error instanceof AppError ? error.code : 'error' });
      throw error;
    }
  };

  router.post('/webhooks/stripe', rawBody, (req, res) => receive(req, res, null));
  router.post('/webhooks/stripe/:accountId', rawBody, (req, res) => receive(req, res, String(req.params.accountId)));
  return router;
}
