import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import { ownValue } from '../shared/own-key.js';
import { decodeCursor, parseInstant } from './time-range.js';
import type { EventStatus } from '../events/stripe-event.entity.js';
import { parseAccountChoice, type AccountChoice } from './event-copies.js';

export const EVENT_STATUSES: readonly EventStatus[] = ['received', 'processed', 'ignored', 'failed'];
const status = z.enum(EVENT_STATUSES as [EventStatus, ...EventStatus[]]);
/** An exact type, or a family with a trailing `.*` (`charge.*`, `charge.dispute.*`). */
const type = z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$/).max(255);

const MESSAGES: Record<string, string> = {
  status: `status must be one of ${EVENT_STATUSES.join(', ')}.`,
  type: 'type must be a Stripe event type such as charge.refunded, or a family such as charge.*.',
  q: 'q must be an id: an event (evt_…), invoice (inv_…), payment intent (pi_…), charge (ch_…), refund (re_…) or payout (po_…) id, or an invoice number (INV-2026-0042): letters, digits, spaces and _ - . / # :.',
  limit: 'limit must be a whole number from 1 to 200.',
  dryRun: 'dryRun must be true or false.',
  since: 'since must be an ISO time (2026-11-27T03:00:00Z) or a duration back from now such as 30m, 2h or 7d.',
  until: 'until must be an ISO time (2026-11-27T03:00:00Z) or a duration back from now such as 30m, 2h or 7d.',
  cursor: 'cursor must be the nextCursor of the previous page, unchanged.',
  body: 'Send a JSON object: {"status": "failed", "type"?: "charge.refunded", "since"?: "2h", "until"?: "...", "accountId"?: "ma_..." or "default", "dryRun"?: true}.',
  action: 'action must be an audit action name such as event.replay or token.create.',
  actor: 'actor must be a token id or name.',
};

/** camelCase field → snake_case code part, as every error code is snake_case. */
const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function fail(error: z.ZodError): never {
  const field = String(error.issues[0]?.path[0] ?? 'body');
  throw new AppError(400, `invalid_${snake(field)}`, ownValue(MESSAGES, field) ?? `${field} is not valid here: see GET /api/ops/events in docs/operations.md.`, { field });
}

const listSchema = z.object({
  status: status.optional(),
  type: type.optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  // An id, or an invoice number as a customer quotes it (numbers are free text up to 64
  // characters: INV-2026-0042, 2026/0042, #1042). No quotes or LIKE wildcards: q is matched exactly.
  q: z.string().trim().regex(/^[\w ./#:-]{1,255}$/).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(600).optional(),
  accountId: z.unknown().optional(),
});

export interface EventFilter {
  status?: EventStatus;
  type?: string;
  since?: Date;
  until?: Date;
  /** Only events that came in on this account's endpoint (null: the default endpoint's); undefined: every account. */
  accountId?: AccountChoice;
}

export interface EventListQuery extends EventFilter {
  q?: string;
  limit: number;
  cursor?: { at: Date; id: string; scope?: string };
}

export function parseEventListQuery(query: unknown, now = new Date()): EventListQuery {
  const result = listSchema.safeParse(query);
  if (!result.success) fail(result.error);
  const { since, until, cursor, accountId, ...rest } = result.data;
  return {
    ...rest,
    since: since ? parseInstant(since, 'since', now) : undefined,
    until: until ? parseInstant(until, 'until', now) : undefined,
    cursor: cursor ? decodeCursor(cursor) : undefined,
    accountId: parseAccountChoice(accountId),
  };
}

const replaySchema = z.object({
  // Required: a bulk replay always says which set it means; there is no "replay everything" by omission.
  status,
  type: type.optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  accountId: z.unknown().optional(),
  dryRun: z.boolean().default(false),
});

export interface ReplayFilter extends EventFilter {
  status: EventStatus;
  dryRun: boolean;
}

export function parseReplayFilter(body: unknown, now = new Date()): ReplayFilter {
  const result = replaySchema.safeParse(body ?? {});
  if (!result.success) fail(result.error);
  const { since, until, accountId, ...rest } = result.data;
  return {
    ...rest,
    since: since ? parseInstant(since, 'since', now) : undefined,
    until: until ? parseInstant(until, 'until', now) : undefined,
    accountId: parseAccountChoice(accountId),
  };
}

/**
 * SQL for the filter, shared by listing, counting and bulk replay so they always mean the same set.
 * `onlyAccount` (a token confined to one merchant account) narrows it to that account's events on
 * top of the filter: a filter naming another account (or `default`) then matches nothing.
 */
export function filterSql(filter: EventFilter, onlyAccount?: string): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (onlyAccount) {
    where.push('account_scope = ?');
    params.push(onlyAccount);
  }
  if (filter.status) {
    where.push('status = ?');
    params.push(filter.status);
  }
  if (filter.type?.endsWith('.*')) {
    // A prefix LIKE still ranges over idx_stripe_events_type; `_` is a LIKE wildcard, so escape it (backslash is LIKE's default escape character).
    where.push('type LIKE ?');
    params.push(`${filter.type.slice(0, -1).replace(/_/g, '\\_')}%`);
  } else if (filter.type) {
    where.push('type = ?');
    params.push(filter.type);
  }
  if (filter.since) {
    where.push('received_at >= ?');
    params.push(filter.since);
  }
  if (filter.until) {
    where.push('received_at < ?');
    params.push(filter.until);
  }
  if (filter.accountId !== undefined) {
    where.push('account_scope = ?');
    params.push(filter.accountId ?? '');
  }
  return { where, params };
}
