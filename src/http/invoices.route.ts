import { Router } from 'express';
import type { InvoiceService } from '../billing/invoice.service.js';
import type { PayNowService } from '../billing/pay-now.service.js';
import { parseCreatePayLink, type PayLinkService } from '../billing/pay-link.service.js';
import { parseCreateInvoice, parseListInvoices } from '../billing/invoice.schema.js';
import { onlyAccount, requireRole, type TokenVerifier } from './auth.middleware.js';

/**
 * Invoices: the merchant app creates them (admin); accountants read them and hand out pay links.
 * A token confined to one merchant account sees and touches that account's invoices only.
 */
export function invoicesRouter(deps: { invoices: InvoiceService; payNow: PayNowService; payLinks: PayLinkService; verifyToken: TokenVerifier }): Router {
  const router = Router();
  const read = requireRole(deps.verifyToken, 'accountant');
  const write = requireRole(deps.verifyToken, 'admin');

  router.post('/api/invoices', write, async (req, res) => {
    res.status(201).json(await deps.invoices.create(parseCreateInvoice(req.body), onlyAccount(req)));
  });
  router.get('/api/invoices', read, async (req, res) => {
    res.json(await deps.invoices.list(parseListInvoices(req.query), onlyAccount(req)));
  });
  // Pay Now from the merchant app's backend (admin token), which hands clientSecret to the payer's browser.
  router.post('/api/invoices/:id/payment-intent', write, async (req, res) => {
    res.json(await deps.payNow.createPaymentIntent(String(req.params.id), onlyAccount(req)));
  });
  // A pay link for the payer's browser (POST /pay/:token), so it never holds a staff token.
  router.post('/api/invoices/:id/pay-link', read, async (req, res) => {
    res.status(201).json(await deps.payLinks.create(String(req.params.id), parseCreatePayLink(req.body), req.principal!.name, onlyAccount(req)));
  });
  router.delete('/api/invoices/:id/pay-link/:linkId', read, async (req, res) => {
    await deps.payLinks.revoke(String(req.params.id), String(req.params.linkId), req.principal!.name, onlyAccount(req));
    res.status(204).end();
  });
  router.get('/api/invoices/:id', read, async (req, res) => {
    res.json(await deps.invoices.get(String(req.params.id), onlyAccount(req)));
  });
  return router;
}
