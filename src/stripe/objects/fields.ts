import { z } from 'zod';
import type Stripe from 'stripe';
import { EventRejectedError } from '../../shared/errors.js';

/**
 * Field schemas for the few fields each handler reads. Each says in words what it expects, so a
 * rejected object's error names the field and what was wrong: `charge.amount: expected an integer,
 * got null`. Only the declared fields are read: a plain (stripping) object schema neither walks
 * nor copies the object's other keys.
 */
/** Optional fields also accept an absent key (`.optional()`): zod 4 otherwise requires every key. */
const field = <T>(check: (value: unknown) => boolean, expected: string) => z.custom<T>(check, { message: expected });

const isString = (max: number) => (value: unknown) => typeof value === 'string' && value.length > 0 && value.length <= max;
/** A whole amount in a currency's minor unit that a BIGINT holds exactly: never negative at Stripe. */
const isAmount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;

export const id = field<string>(isString(255), 'expected an id (a string)');
export const optionalId = field<string | null | undefined>((v) => v == null || isString(255)(v), 'expected an id (a string) or null').optional();
export const amount = field<number>(isAmount, 'expected an integer');
export const optionalAmount = field<number | null | undefined>((v) => v == null || isAmount(v), 'expected an integer or null').optional();
export const timestamp = field<number>(isAmount, 'expected a unix timestamp (an integer)');
export const optionalTimestamp = field<number | null | undefined>((v) => v == null || isAmount(v), 'expected a unix timestamp (an integer) or null').optional();
export const currency = field<string>((v) => typeof v === 'string' && /^[a-z]{3}$/i.test(v), 'expected a three-letter currency code');
export const status = field<string>(isString(32), 'expected a status (a string)');
export const optionalStatus = field<string | null | undefined>((v) => v == null || isString(32)(v), 'expected a status (a string) or null').optional();
export const optionalBoolean = field<boolean | null | undefined>((v) => v == null || typeof v === 'boolean', 'expected true, false or null').optional();
/** Free text Stripe writes (a reason, a message): kept, cut to the column's length by the writer. */
export const optionalText = field<string | null | undefined>((v) => v == null || typeof v === 'string', 'expected a string or null').optional();
/** An expandable field: an id, or the expanded object carrying it. */
export const expandable = field<string | { id: string } | null | undefined>(
  (v) => v == null || isString(255)(v) || (typeof v === 'object' && isString(255)((v as { id?: unknown }).id)),
  'expected an id, an object with an id, or null',
).optional();
/** Only `invoice_id` is read; any other shape of metadata is read as none. */
export const metadata = z.unknown().optional().transform((v): string | null => {
  const invoiceId = v && typeof v === 'object' ? (v as { invoice_id?: unknown }).invoice_id : undefined;
  return typeof invoiceId === 'string' && invoiceId.length > 0 && invoiceId.length <= 255 ? invoiceId : null;
});

/** Stripe's expandable fields hold an id or the expanded object. */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing (the field is absent)';
  // JSON would print Infinity (1e400 once parsed) as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value)?.slice(0, 60) ?? String(value);
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let value = root;
  for (const key of path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

/**
 * The fields `schema` declares, read from the event's object, or an `invalid_object` rejection
 * naming each bad field: `charge.amount: expected an integer, got null`.
 */
export function readFields<S extends z.ZodType>(event: Stripe.Event, name: string, schema: S, object: unknown = event.data?.object): z.output<S> {
  const result = schema.safeParse(object);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = [name, ...issue.path.map(String)].join('.');
    const expected = issue.code === 'custom' ? issue.message : issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.message;
    return `${where}: ${expected}, got ${show(valueAt(object, issue.path))}`;
  });
  throw new EventRejectedError('invalid_object', `${problems.join('; ')} (event ${event.id}, ${event.type}, API version ${event.api_version ?? 'unknown'})`);
}
