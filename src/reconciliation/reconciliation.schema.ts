import { z } from 'zod';
import { isCurrency } from '../billing/currencies.js';
import { AppError } from '../shared/errors.js';

const date = z.iso.datetime({ offset: true }).or(z.iso.date());
const currency = z
  .string()
  .trim()
  .transform((c) => c.toLowerCase())
  .refine(isCurrency);

const reconciliationQuery = z.object({
  from: date.optional(),
  to: date.optional(),
  status: z.enum(['open', 'partially_paid', 'paid', 'partially_refunded', 'refunded', 'disputed', 'void']).optional(),
  reconciliation: z.enum(['unpaid', 'awaiting_payout', 'reconciled', 'discrepancy']).optional(),
  currency: currency.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
  format: z.enum(['json', 'csv']).default('json'),
});

export type ReconciliationQuery = z.infer<typeof reconciliationQuery>;

const payoutsQuery = z.object({
  from: z.iso.date().optional(),
  to: z.iso.date().optional(),
  status: z.enum(['pending', 'in_transit', 'paid', 'failed', 'canceled']).optional(),
  currency: currency.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().regex(/^\d+_[A-Za-z0-9_]+$/).optional(),
});

export type PayoutsQuery = z.infer<typeof payoutsQuery>;

function parse<T>(schema: z.ZodType<T>, query: unknown, help: string): T {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const field = String(result.error.issues[0]!.path[0] ?? 'query');
  throw new AppError(400, `invalid_${field}`, `Bad query parameter ${field}: ${help}`, { field });
}

export const parseReconciliationQuery = (query: unknown) =>
  parse(
    reconciliationQuery,
    query,
    'from/to are ISO dates (to is inclusive for a bare date); status is an invoice status (open, partially_paid, paid, partially_refunded, refunded, disputed, void); reconciliation is unpaid, awaiting_payout, reconciled or discrepancy; currency is an ISO 4217 code; limit is 1–5000; format is json or csv.',
  );

export const parsePayoutsQuery = (query: unknown) =>
  parse(
    payoutsQuery,
    query,
    'from/to are arrival dates (YYYY-MM-DD, inclusive); status is pending, in_transit, paid, failed or canceled; currency is an ISO 4217 code; limit is 1–500; cursor comes from nextCursor.',
  );

/** `to` is exclusive; a bare date means "through the end of that day". */
export function endOf(to: string): Date {
  const end = new Date(to);
  if (/^\d{4}-\d{2}-\d{2}$/.test(to)) end.setUTCDate(end.getUTCDate() + 1);
  return end;
}
