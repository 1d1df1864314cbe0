import { AppError, echo } from '../shared/errors.js';

/**
 * The one answer for an invoice a caller cannot see, on every route that names one: missing, or
 * another merchant account's for a token confined to one account. One message for both, so a
 * scoped token cannot tell them apart.
 */
export const invoiceNotFound = (id: string) => new AppError(404, 'invoice_not_found', `No invoice "${echo(id)}": ids look like inv_… and come from POST /api/invoices.`);

/** SQL (two `?`, both `onlyAccount ?? null`): true for every invoice when unscoped, else for that account's only. */
export const INVOICE_VISIBLE_SQL = '(? IS NULL OR account_id = ?)';
export const visibleParams = (onlyAccount: string | undefined) => [onlyAccount ?? null, onlyAccount ?? null];
