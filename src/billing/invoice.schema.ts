import { z } from 'zod';
import { isCurrency } from './currencies.js';
import { AppError } from '../shared/errors.js';
import { ownValue } from '../shared/own-key.js';

/** The largest amount Stripe accepts (99,999,999 in the minor unit), so every invoice can be paid by card. */
export const MAX_AMOUNT = 99_999_999;

const createInvoiceSchema = z.object({
  number: z.string().trim().min(1).max(64),
  currency: z
    .string()
    .trim()
    .transform((c) => c.toLowerCase())
    .refine(isCurrency),
  amountDue: z.number().int().min(1).max(MAX_AMOUNT),
  customer: z.object({
    name: z.string().trim().min(1).max(255),
    email: z.email().max(255),
  }),
  accountId: z.string().min(1).max(64).nullable().optional(),
});

export type CreateInvoiceInput = z.infer<typeof createInvoiceSchema>;

/** One code per field, so a client knows what to fix without parsing prose. */
const FIELD_ERRORS: Record<string, [code: string, message: string]> = {
  number: ['invalid_number', 'number is required: the invoice number shown to the customer, 1–64 characters.'],
  currency: ['invalid_currency', 'currency must be an ISO 4217 code such as "usd", "eur" or "jpy".'],
  amountDue: ['invalid_amount_due', `amountDue must be a whole number of the currency's minor unit (cents; yen for JPY), from 1 to ${MAX_AMOUNT}.`],
  customer: ['invalid_customer', 'customer must be {"name": "...", "email": "..."}.'],
  'customer.name': ['invalid_customer_name', 'customer.name is required, up to 255 characters.'],
  'customer.email': ['invalid_customer_email', 'customer.email must be an email address.'],
  accountId: ['invalid_account_id', 'accountId must be the id of a merchant account, or left out for the default account.'],
};

export function parseCreateInvoice(body: unknown): CreateInvoiceInput {
  const result = createInvoiceSchema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.join('.');
  const [code, message] = ownValue(FIELD_ERRORS, path) ?? ownValue(FIELD_ERRORS, String(issue.path[0])) ?? ['invalid_body', 'Send a JSON object with number, currency, amountDue and customer {name, email}.'];
  throw new AppError(400, code, message, { field: path || undefined });
}

const listSchema = z.object({
  status: z.enum(['open', 'partially_paid', 'paid', 'partially_refunded', 'refunded', 'disputed', 'void']).optional(),
  from: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
  to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d+$/).optional(),
});

export type ListInvoicesQuery = z.infer<typeof listSchema>;

export function parseListInvoices(query: unknown): ListInvoicesQuery {
  const result = listSchema.safeParse(query);
  if (result.success) return result.data;
  const field = String(result.error.issues[0]!.path[0]);
  throw new AppError(400, `invalid_${field}`, `Bad query parameter ${field}: status is one of open, partially_paid, paid, partially_refunded, refunded, disputed, void; from/to are ISO dates; limit is 1–200; cursor comes from nextCursor.`);
}
