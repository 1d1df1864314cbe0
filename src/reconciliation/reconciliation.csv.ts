import { formatMinor } from '../billing/currencies.js';
import type { InvoiceReconciliationRow, UnmatchedPaymentRow } from './reconciliation.service.js';

/**
 * RFC 4180: fields with a comma, a quote or a line break are quoted, quotes
 * doubled, lines end in CRLF. Text a spreadsheet would run as a formula
 * (=, +, -, @ first) gets a leading apostrophe; amounts are never text.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const safeText = (value: string | null) => (value !== null && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

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
];

const decimal = (amount: number | null, currency: string | null) => (amount === null || !currency ? null : formatMinor(amount, currency));

export function invoiceCsvLine(row: InvoiceReconciliationRow): string {
  const money = [row.amountDue, row.amountPaid, row.amountRefunded, row.amountDisputed].flatMap((amount) => [amount, decimal(amount, row.currency)]);
  const settled = row.settlementCurrency ?? row.currency;
  return csvLine([
    'invoice',
    row.id,
    safeText(row.number),
    row.accountId,
    safeText(row.customerName),
    row.createdAt,
    row.currency,
    row.status,
    row.reconciliation,
    row.discrepancy?.reason ?? null,
    safeText(row.discrepancy?.message ?? null),
    ...money,
    row.settlementCurrency,
    ...[row.gross, row.fees, row.net].flatMap((amount) => [amount, decimal(amount, settled)]),
    row.payouts.map((p) => p.id).join(' '),
    row.payouts.map((p) => p.arrivalDate).join(' '),
    row.payouts.map((p) => p.status).join(' '),
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
  ]);
}
