import { formatMinor } from '../billing/currencies.js';
import type { InvoiceReconciliationRow, UnmatchedPaymentRow } from './reconciliation.service.js';

/** A cell that is a plain decimal number: a spreadsheet reads it as a number, never as a formula. */
const NUMBER = /^-?\d+(\.\d+)?$/;
/** What a spreadsheet runs as a formula when it starts a cell (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * The one writer of every CSV cell. RFC 4180: fields with a comma, a quote or a
 * line break are quoted, quotes doubled, lines end in CRLF. Any text a
 * spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
 * apostrophe and is quoted, whichever column it is in: ids, currencies and payout
 * lists come from signed events, which anyone holding a signing secret writes.
 * Numbers, and decimals like -12.50, stay numbers.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  if (NUMBER.test(value)) return value;
  if (FORMULA_START.test(value)) return `"'${value.replace(/"/g, '""')}"`;
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export const csvLine = (fields: (string | number | null)[]) => `${fields.map(csvField).join(',')}\r\n`;

const MONEY = ['amount_due', 'amount_paid', 'amount_refunded', 'amount_disputed'] as const;
const SETTLED = ['gross', 'fees', 'net'] as const;

export const CSV_HEADER = [
  'record_type',
  'id',
  'invoice_number',
  'account_id',
  'customer_name',
  'created_at',
  'currency',
  'status',
  'reconciliation',
  'discrepancy_reason',
  'discrepancy_detail',
  ...MONEY.flatMap((m) => [m, `${m}_decimal`]),
  'settlement_currency',
  ...SETTLED.flatMap((m) => [m, `${m}_decimal`]),
  'payout_ids',
  'payout_arrival_dates',
  'payout_statuses',
  // PayPal (issue 17), last so that consumers reading columns by position keep working:
  // the gateways that moved the money, and PayPal's part, settled in the PayPal balance.
  'gateways',
  'paypal_currency',
  ...SETTLED.flatMap((m) => [`paypal_${m}`, `paypal_${m}_decimal`]),
];

/** The PayPal columns: its part's currency and figures in the currency PayPal settled it in (blank without PayPal money). */
function paypalCells(paypal: InvoiceReconciliationRow['paypal']): (string | number | null)[] {
  if (!paypal) return [null, ...SETTLED.flatMap(() => [null, null])];
  return [paypal.currency, ...[paypal.gross, paypal.fees, paypal.net].flatMap((amount) => [amount, decimal(amount, paypal.currency)])];
}

const decimal = (amount: number | null, currency: string | null) => (amount === null || !currency ? null : formatMinor(amount, currency));

export function invoiceCsvLine(row: InvoiceReconciliationRow): string {
  const money = [row.amountDue, row.amountPaid, row.amountRefunded, row.amountDisputed].flatMap((amount) => [amount, decimal(amount, row.currency)]);
  const settled = row.settlementCurrency ?? row.currency;
  return csvLine([
    'invoice',
    row.id,
    row.number,
    row.accountId,
    row.customerName,
    row.createdAt,
    row.currency,
    row.status,
    row.reconciliation,
    row.discrepancy?.reason ?? null,
    row.discrepancy?.message ?? null,
    ...money,
    row.settlementCurrency,
    ...[row.gross, row.fees, row.net].flatMap((amount) => [amount, decimal(amount, settled)]),
    row.payouts.map((p) => p.id).join(' '),
    row.payouts.map((p) => p.arrivalDate).join(' '),
    row.payouts.map((p) => p.status).join(' '),
    row.gateways.join(' '),
    ...paypalCells(row.paypal),
  ]);
}

export function unmatchedPaymentCsvLine(row: UnmatchedPaymentRow): string {
  const settled = row.settlementCurrency ?? row.currency;
  return csvLine([
    'unmatched_payment',
    row.id,
    null,
    null,
    null,
    row.createdAt,
    row.currency,
    null,
    'unmatched',
    row.unmatchedReason,
    null,
    null,
    null,
    row.amountReceived,
    decimal(row.amountReceived, row.currency),
    null,
    null,
    null,
    null,
    row.settlementCurrency,
    ...[row.gross, row.fees, row.net].flatMap((amount) => [amount, decimal(amount, settled)]),
    row.payouts.map((p) => p.id).join(' '),
    row.payouts.map((p) => p.arrivalDate).join(' '),
    row.payouts.map((p) => p.status).join(' '),
    row.gateway,
    ...paypalCells(row.paypal),
  ]);
}
