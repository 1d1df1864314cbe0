import { EventRejectedError } from '../../shared/errors.js';
import { PaypalAmountError, readMoney } from '../amounts.js';

/** Which event a resource came from: named in every rejection, so on-call finds it. */
export interface EventContext {
  eventId: string;
  eventType: string;
}

type Path = (string | number)[];

function valueAt(root: unknown, path: Path): unknown {
  let value = root;
  for (const key of path) value = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[key] : undefined;
  return value;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing (the field is absent)';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value)?.slice(0, 60) ?? String(value);
}

/**
 * The few fields a reader takes from a PayPal resource, each checked: a bad one is an
 * `invalid_object` rejection naming it (`capture.amount.value: USD has 2 decimal places at
 * PayPal, got "10.999" (event WH-…, PAYMENT.CAPTURE.COMPLETED)`), as the Stripe readers do
 * (src/stripe/objects/fields.ts). Only the named paths are read; the rest of the resource is not walked.
 */
export function fieldsOf(resource: unknown, name: string, context: EventContext) {
  const rejectWith = (path: Path, problem: string): never => {
    throw new EventRejectedError('invalid_object', `${[name, ...path].join('.')}: ${problem} (event ${context.eventId}, ${context.eventType})`);
  };
  const reject = (path: Path, expected: string, got: unknown): never => rejectWith(path, `${expected}, got ${show(got)}`);
  const isText = (value: unknown, max: number): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;

  return {
    reject,
    at: (path: Path) => valueAt(resource, path),
    /** A PayPal id or status: a non-empty string. */
    text(path: Path, expected = 'expected a string', max = 255): string {
      const value = valueAt(resource, path);
      return isText(value, max) ? value : reject(path, expected, value);
    },
    /** An optional string: absent, null or "" read as null; any other non-string refused. */
    optionalText(path: Path, max = 255): string | null {
      const value = valueAt(resource, path);
      if (value === undefined || value === null || value === '') return null;
      return isText(value, max) ? value : reject(path, `expected a string of at most ${max} characters, or nothing`, value);
    },
    /** PayPal's money object, in the books' minor unit (src/paypal/amounts.ts). */
    money(path: Path, options: { allowNegative?: boolean } = {}): { amount: number; currency: string } {
      const value = valueAt(resource, path);
      try {
        return readMoney(value, options);
      } catch (error) {
        // The amount's own message says what it got: "USD has 2 decimal places at PayPal, got "10.999"".
        if (error instanceof PaypalAmountError) return rejectWith(error.field ? [...path, error.field] : path, error.message);
        throw error;
      }
    },
    optionalMoney(path: Path, options: { allowNegative?: boolean } = {}): { amount: number; currency: string } | null {
      return valueAt(resource, path) == null ? null : this.money(path, options);
    },
    /** An RFC 3339 time as PayPal writes it (`2026-11-30T10:00:00Z`, or with an offset) → unix seconds; null when absent. */
    optionalTime(path: Path): number | null {
      const value = valueAt(resource, path);
      if (value === undefined || value === null) return null;
      const ms = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
      return Number.isFinite(ms) ? Math.floor(ms / 1000) : reject(path, 'expected a date-time such as "2026-11-30T10:00:00Z"', value);
    },
    /**
     * The id a HATEOAS link of relation `rel` points at, when its path is `<prefix><id>`: a refund's
     * capture is its `up` link to /v2/payments/captures/<id>. null when there is no such link.
     */
    linkedId(rel: string, prefix: string): string | null {
      const links = valueAt(resource, ['links']);
      if (links === undefined || links === null) return null;
      if (!Array.isArray(links)) return reject(['links'], 'expected an array of {href, rel} links', links);
      for (const link of links as unknown[]) {
        const { href, rel: found } = (link ?? {}) as { href?: unknown; rel?: unknown };
        if (found !== rel || typeof href !== 'string') continue;
        let path: string;
        try {
          path = new URL(href).pathname;
        } catch {
          return reject(['links'], `expected the ${rel} link's href to be a URL`, href);
        }
        if (!path.startsWith(prefix)) continue;
        const id = path.slice(prefix.length);
        if (/^[A-Za-z0-9-]{1,255}$/.test(id)) return id;
        return reject(['links'], `expected the ${rel} link to end in an id`, href);
      }
      return null;
    },
  };
}

export type Fields = ReturnType<typeof fieldsOf>;
