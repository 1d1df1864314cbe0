import { once } from 'node:events';
import { Router, type Response } from 'express';
import type { ReconciliationService } from '../reconciliation/reconciliation.service.js';
import type { PayoutsService } from '../reconciliation/payouts.service.js';
import { parsePayoutsQuery, parseReconciliationQuery } from '../reconciliation/reconciliation.schema.js';
import { CSV_HEADER, csvLine, invoiceCsvLine, unmatchedPaymentCsvLine } from '../reconciliation/reconciliation.csv.js';
import type { Logger } from '../shared/logger.js';
import { describeError } from '../shared/errors.js';
import { onlyAccount, requireRole, type TokenVerifier } from './auth.middleware.js';

/** Writes with backpressure: a slow download must not buffer the whole report in memory. */
async function write(res: Response, chunk: string): Promise<void> {
  if (!res.write(chunk)) await once(res, 'drain');
}

/**
 * Accountants (read only): payouts with their tie-out, and invoices reconciled against them, as JSON or CSV.
 * A token confined to one merchant account gets that account's rows only, in every answer.
 */
export function reconciliationRouter(deps: {
  reconciliation: ReconciliationService;
  payouts: PayoutsService;
  verifyToken: TokenVerifier;
  logger: Logger;
}): Router {
  const router = Router();
  const read = requireRole(deps.verifyToken, 'accountant');

  router.get('/api/payouts', read, async (req, res) => {
    res.json(await deps.payouts.list(parsePayoutsQuery(req.query), onlyAccount(req)));
  });
  router.get('/api/payouts/:id', read, async (req, res) => {
    res.json(await deps.payouts.get(String(req.params.id), onlyAccount(req)));
  });

  router.get('/api/reconciliation/invoices', read, async (req, res) => {
    const query = parseReconciliationQuery(req.query);
    const only = onlyAccount(req);
    if (query.format === 'json') {
      res.json(await deps.reconciliation.report(query, only));
      return;
    }
    // CSV for the books: every selected invoice, oldest first, then the payments that match no invoice.
    res.status(200);
    res.type('text/csv; charset=utf-8');
    res.attachment(`reconciliation-${new Date().toISOString().slice(0, 10)}.csv`);
    try {
      await write(res, csvLine(CSV_HEADER));
      for await (const row of deps.reconciliation.scanInvoices(query, 'oldest', only)) await write(res, invoiceCsvLine(row));
      if (!query.status && !query.reconciliation) {
        for await (const row of deps.reconciliation.scanUnmatchedPayments(query, only)) await write(res, unmatchedPaymentCsvLine(row));
      }
      res.end();
    } catch (error) {
      if (!res.headersSent) throw error;
      // Half a ledger must not look like a whole one: cut the download so the client sees it fail.
      deps.logger.error('reconciliation CSV failed mid-stream', { error: describeError(error) });
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  });

  return router;
}
