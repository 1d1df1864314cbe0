import { Router } from 'express';
import type { PayLinkService } from '../billing/pay-link.service.js';

/**
 * POST /pay/:token: the payer's browser, holding a pay link and no staff token. It gets what
 * Stripe.js needs to confirm the payment (client secret, amount, currency) and nothing else;
 * an unknown, expired or revoked link is one answer, 404 pay_link_invalid.
 */
export function payRouter(deps: { payLinks: PayLinkService }): Router {
  const router = Router();
  router.post('/pay/:token', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json(await deps.payLinks.pay(String(req.params.token)));
  });
  return router;
}
