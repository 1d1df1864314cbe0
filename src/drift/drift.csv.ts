import { csvLine } from '../reconciliation/reconciliation.csv.js';
import type { Difference } from './drift-check.js';
import type { DriftReport } from './drift.service.js';

/** One line per difference. Every cell goes through the reconciliation CSV's one writer and its formula guard: ids, statuses and invoice ids come from Stripe objects and signed events. */
export const DRIFT_CSV_HEADER = ['account', 'object', 'id', 'kind', 'field', 'service', 'stripe', 'currency', 'invoice_id'];

const cell = (value: string | number | boolean | null) => (typeof value === 'boolean' ? String(value) : value);

export function driftCsvLine(report: Pick<DriftReport, 'account'>, difference: Difference): string {
  return csvLine([
    report.account,
    difference.object,
    difference.id,
    difference.kind,
    difference.field,
    cell(difference.service),
    cell(difference.stripe),
    difference.currency,
    difference.invoiceId ?? null,
  ]);
}

export function driftCsv(report: DriftReport): string {
  return csvLine(DRIFT_CSV_HEADER) + report.differences.map((difference) => driftCsvLine(report, difference)).join('');
}
