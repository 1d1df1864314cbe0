import { parseAccountChoice, type AccountChoice } from '../ops/event-copies.js';
import { parseInstant } from '../ops/time-range.js';
import { AppError } from '../shared/errors.js';

/**
 * The longest range one check covers. It bounds what a check costs (one Stripe request per 100
 * objects of each kind, and the report's size) and matches what a repair can reach: Stripe keeps
 * events for 30 days.
 */
export const MAX_RANGE_DAYS = 30;
const DAY_MS = 86_400_000;

export interface DriftQuery {
  account: AccountChoice;
  from: Date;
  to: Date;
  format: 'json' | 'csv';
}

const HOW = 'from and to are ISO dates or date-times (2026-11-01, 2026-11-01T00:00:00Z) or durations ago (7d, 12h); to defaults to now.';

/** `GET /api/ops/drift?accountId&from&to&format` and the repair's body `{accountId, from, to}`: the same fields. */
export function parseDriftQuery(input: unknown, now = new Date()): DriftQuery {
  const fields = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const text = (name: string) => {
    const value = fields[name];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw new AppError(400, `invalid_${name}`, `${name} must be given once, as text. ${HOW}`, { field: name });
    return value;
  };
  const fromText = text('from');
  if (fromText === undefined) throw new AppError(400, 'invalid_from', `from is required: where the range of Stripe creation times starts. ${HOW}`, { field: 'from' });
  const from = parseInstant(fromText, 'from', now);
  const toText = text('to');
  const to = toText === undefined ? now : parseInstant(toText, 'to', now);
  if (from.getTime() > to.getTime()) {
    throw new AppError(400, 'invalid_range', `from (${from.toISOString()}) is after to (${to.toISOString()}): swap them, or leave to out for now.`, { field: 'from' });
  }
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) {
    throw new AppError(
      400,
      'range_too_long',
      `A check covers at most ${MAX_RANGE_DAYS} days (this range is ${Math.ceil((to.getTime() - from.getTime()) / DAY_MS)}): split it into several checks.`,
      { field: 'to' },
    );
  }
  const format = text('format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new AppError(400, 'invalid_format', 'format is json (the default) or csv.', { field: 'format' });
  return { account: parseAccountChoice(fields.accountId), from, to, format };
}
