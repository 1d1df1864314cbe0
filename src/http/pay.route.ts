import express, { Router } from 'express';
import type { PayLinkService } from '../billing/pay-link.service.js';
import type { PayPage } from '../billing/pay-page.js';
import type { PayWithPaypalService } from '../billing/pay-with-paypal.service.js';
import { parsePaypalCapture } from '../billing/pay-with-paypal.errors.js';
import { rejectLoneSurrogates, requireJsonBody } from './json-body.middleware.js';

/**
 * /pay/:token: the payer's browser, holding a pay link and no staff token. It gets what the page
 * shows (GET), what Stripe.js needs to confirm a card payment (POST: client secret, amount,
 * currency), or a PayPal order to approve and then capture; nothing else. An unknown, expired or
 * revoked link is one answer, 404 pay_link_invalid. Nothing here may be cached.
 */
export function payRouter(deps: { payLinks: PayLinkService; payPage: PayPage; payWithPaypal: PayWithPaypalService }): Router {
  const router = Router();
  const json = [requireJsonBody, express.json({ limit: '10kb' }), rejectLoneSurrogates];
  router.use('/pay', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.get('/pay/:token', async (req, res) => {
    res.json(await deps.payPage.view(await deps.payLinks.invoiceOf(String(req.params.token))));
  });
  router.post('/pay/:token', async (req, res) => {
    res.json(await deps.payLinks.pay(String(req.params.token)));
  });
  router.post('/pay/:token/paypal', async (req, res) => {
    res.json(await deps.payWithPaypal.createOrder(await deps.payLinks.invoiceOf(String(req.params.token))));
  });
  router.post('/pay/:token/paypal/capture', ...json, async (req, res) => {
    const invoiceId = await deps.payLinks.invoiceOf(String(req.params.token));
    res.json(await deps.payWithPaypal.captureOrder(invoiceId, parsePaypalCapture(req.body).orderId));
  });
  return router;
}
