import { createHash, randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { AppError, echo } from '../shared/errors.js';
import type { PayNowService } from './pay-now.service.js';
import { INVOICE_VISIBLE_SQL, invoiceNotFound, visibleParams } from './invoice-errors.js';

/** `bpl_` makes a leaked link recognisable to secret scanners; 32 random bytes make it unguessable. */
const TOKEN_PREFIX = 'bpl_';
const TOKEN = /^bpl_[A-Za-z0-9_-]{43}$/;
const sha256 = (value: string) => createHash('sha256').update(value).digest();
export const DEFAULT_PAY_LINK_HOURS = 7 * 24;
const MAX_PAY_LINK_HOURS = 90 * 24;

const createSchema = z
  .object({ expiresInHours: z.number().int().min(1).max(MAX_PAY_LINK_HOURS).optional() })
  .strict();

export function parseCreatePayLink(body: unknown): { expiresInHours: number } {
  const result = createSchema.safeParse(body ?? {});
  if (!result.success) {
    throw new AppError(400, 'invalid_pay_link', `The body is {expiresInHours?}: a whole number of hours from 1 to ${MAX_PAY_LINK_HOURS} (default ${DEFAULT_PAY_LINK_HOURS}, 7 days).`);
  }
  return { expiresInHours: result.data.expiresInHours ?? DEFAULT_PAY_LINK_HOURS };
}

const invalid = () => new AppError(404, 'pay_link_invalid', 'This payment link is unknown, expired or revoked: ask the merchant for a new one.');

/**
 * Pay links: what a payer's browser holds instead of a staff token. A link names one invoice,
 * expires, and can be revoked; only the SHA-256 of its token is stored, so a database leak
 * yields no usable link. Paying through it creates or reuses the invoice's PaymentIntent
 * (PayNowService) and hands out only what Stripe.js needs.
 */
export function createPayLinkService(deps: { dataSource: DataSource; payNow: PayNowService; publicBaseUrl?: string; now?: () => Date }) {
  const now = deps.now ?? (() => new Date());
  async function invoiceOf(token: string): Promise<string> {
    if (!TOKEN.test(token)) throw invalid();
    const [link] = (await deps.dataSource.query('SELECT invoice_id FROM pay_links WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?', [
      sha256(token),
      now(),
    ])) as { invoice_id: string }[];
    if (!link) throw invalid();
    return link.invoice_id;
  }
  return {
    /** `onlyAccount` (here and in revoke): a token confined to one merchant account; another account's invoice is not found. */
    async create(invoiceId: string, input: { expiresInHours: number }, actor: string, onlyAccount?: string) {
      const [invoice] = (await deps.dataSource.query(`SELECT id, status FROM invoices WHERE id = ? AND ${INVOICE_VISIBLE_SQL}`, [
        invoiceId,
        ...visibleParams(onlyAccount),
      ])) as { id: string; status: string }[];
      if (!invoice) throw invoiceNotFound(invoiceId);
      if (invoice.status === 'void') throw new AppError(409, 'invoice_void', 'This invoice is void and cannot be paid.');
      const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
      const id = `pl_${randomBytes(12).toString('hex')}`;
      const expiresAt = new Date(now().getTime() + input.expiresInHours * 3600_000);
      await deps.dataSource.query('INSERT INTO pay_links (id, invoice_id, token_hash, expires_at, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)', [
        id,
        invoiceId,
        sha256(token),
        expiresAt,
        now(),
        actor.slice(0, 100),
      ]);
      const path = `/pay/${token}`;
      return { id, token, url: deps.publicBaseUrl ? `${deps.publicBaseUrl.replace(/\/$/, '')}${path}` : path, expiresAt: expiresAt.toISOString() };
    },

    async revoke(invoiceId: string, linkId: string, actor: string, onlyAccount?: string): Promise<void> {
      // The link's invoice must be one the caller sees: another account's link is as missing as no link.
      const visible = `invoice_id = (SELECT id FROM invoices WHERE id = ? AND ${INVOICE_VISIBLE_SQL})`;
      const result = (await deps.dataSource.query(`UPDATE pay_links SET revoked_at = ?, revoked_by = ? WHERE id = ? AND ${visible} AND revoked_at IS NULL`, [
        now(),
        actor.slice(0, 100),
        linkId,
        invoiceId,
        ...visibleParams(onlyAccount),
      ])) as { affectedRows: number };
      if (result.affectedRows === 0) {
        const [link] = (await deps.dataSource.query(`SELECT id FROM pay_links WHERE id = ? AND ${visible}`, [linkId, invoiceId, ...visibleParams(onlyAccount)])) as unknown[];
        // Revoking twice is done already; a link of another invoice (or none) is not found.
        if (!link) throw new AppError(404, 'pay_link_not_found', `Invoice ${echo(invoiceId)} has no pay link "${echo(linkId)}": use the id POST /api/invoices/:id/pay-link answered.`);
      }
    },

    /** The invoice a live link names; 404 pay_link_invalid for an unknown, expired or revoked one (one answer for all three). */
    invoiceOf,

    /** POST /pay/:token: the PaymentIntent's client secret, amount and currency; nothing else. */
    async pay(token: string) {
      const intent = await deps.payNow.createPaymentIntent(await invoiceOf(token));
      return { clientSecret: intent.clientSecret, amount: intent.amount, currency: intent.currency };
    },
  };
}

export type PayLinkService = ReturnType<typeof createPayLinkService>;
