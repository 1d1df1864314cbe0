import express, { Router } from 'express';
import { WEBHOOK_BODY_LIMIT_BYTES } from './webhook.route.js';
import type { Ingestor } from '../events/ingest.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import type { DeliveryHeaders, PaypalSignatureVerifier } from '../paypal/verify-signature.js';
import { parsePaypalEnvelope } from '../paypal/paypal-event-envelope.js';
import { AppError, echo } from '../shared/errors.js';
import type { Metrics } from '../shared/metrics.js';
import type { RateLimitedLog } from '../shared/rate-limited-log.js';

export interface PaypalWebhookDeps {
  paypalConnections: Pick<PaypalConnectionService, 'delivery'>;
  paypalSignatures: PaypalSignatureVerifier;
  ingestor: Ingestor;
  metrics: Metrics;
  /** Shared with Stripe's route: refused signatures, per account, at most once an interval. */
  signatureRejected: RateLimitedLog;
}

/**
 * A PayPal delivery for a merchant account: verified against the account's webhook ids (offline:
 * docs/paypal.md), then stored in the one inbox and queued like a Stripe event; the workers do the
 * rest. Throws an AppError for a delivery to refuse: nothing refused is stored.
 */
export async function receivePaypalWebhook(deps: PaypalWebhookDeps, raw: Buffer, headers: DeliveryHeaders, accountId: string): Promise<{ duplicate: boolean }> {
  try {
    const connection = await deps.paypalConnections.delivery(accountId);
    if (!connection) {
      throw new AppError(404, 'account_not_found', `No merchant account "${echo(accountId)}": check the webhook URL in the PayPal app (developer.paypal.com), or connect PayPal again.`);
    }
    // No webhook ids: 503 webhook_not_configured, so PayPal retries while the connection is fixed.
    const { event } = await deps.paypalSignatures.verify(raw, headers, connection.webhookIds);
    const envelope = parsePaypalEnvelope(event, connection.live);
    const { duplicate } = await deps.ingestor.ingest({ ...envelope, accountId, payload: raw.toString('utf8') });
    deps.metrics.webhooksReceived.inc({ outcome: duplicate ? 'duplicate' : 'stored' });
    return { duplicate };
  } catch (error) {
    deps.metrics.webhooksReceived.inc({ outcome: error instanceof AppError ? error.code : 'error' });
    if (error instanceof AppError && error.code === 'signature_invalid') deps.signatureRejected(accountId, { code: error.code, reason: error.message, gateway: 'paypal' });
    throw error;
  }
}

/**
 * POST /webhooks/paypal/:accountId. Mounted before any JSON parser: the signature covers the CRC32
 * of the raw bytes. Answers as Stripe's route does: 200 {received, duplicate} once stored.
 */
export function paypalWebhookRouter(deps: PaypalWebhookDeps): Router {
  const router = Router();
  const rawBody = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT_BYTES });
  router.post('/webhooks/paypal/:accountId', rawBody, async (req, res) => {
    const body: unknown = req.body;
    const { duplicate } = await receivePaypalWebhook(deps, Buffer.isBuffer(body) ? body : Buffer.alloc(0), req.headers, String(req.params.accountId));
    res.status(200).json({ received: true, duplicate });
  });
  return router;
}
