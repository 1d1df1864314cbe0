import { AppError } from '../shared/errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time as on-call types it: an ISO date or date-time, or a
 * duration meaning "that long ago" (`90s`, `15m`, `2h`, `7d`, `1w`).
 */
export function parseInstant(value: string, field: string, now = new Date()): Date {
  const relative = /^(\d{1,6})([smhdw])$/.exec(value.trim());
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) {
    const date = new Date(value.trim());
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new AppError(
    400,
    `invalid_${field}`,
    `${field} must be an ISO date or date-time (2025-01-31, 2025-01-31T03:00:00Z) or a duration ago such as 30m, 2h, 7d.`,
    { field },
  );
}

/**
 * Opaque keyset cursors: (time, id) of the last row of a page, and its account scope where the
 * id alone is not its key (events: '' for the default account), base64url.
 */
export function encodeCursor(at: Date, id: string, scope?: string): string {
  return Buffer.from(`${at.toISOString()}|${id}${scope === undefined ? '' : `|${scope}`}`).toString('base64url');
}

/** `scope` is absent from cursors written without one. Ids and scopes never contain '|'. */
export function decodeCursor(cursor: string): { at: Date; id: string; scope?: string } {
  const [at, id, scope, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (Number.isNaN(date.getTime()) || !id || rest.length > 0) {
    throw new AppError(400, 'invalid_cursor', 'cursor must be the nextCursor of a previous page, unchanged.', { field: 'cursor' });
  }
  return { at: date, id, ...(scope === undefined ? {} : { scope }) };
}
