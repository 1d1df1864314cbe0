import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { describeError } from '../shared/errors.js';
import { createdOf } from '../stripe/objects/listed-objects.js';
import { DRIFT_OBJECTS, invoicesOfPayments, type DriftObject, type DriftObjectSpec, type FactValue, type ServiceObject, type StripeObject, type Window } from './drift-objects.js';

export type DifferenceKind = 'missing_in_service' | 'missing_at_stripe' | 'different' | 'unreadable';

/** One way the service's books and Stripe's disagree about one object. */
export interface Difference {
  kind: DifferenceKind;
  object: DriftObject;
  id: string;
  /** The field that differs; for a missing object, the amount it is reported by. */
  field: string;
  service: FactValue;
  stripe: FactValue;
  currency: string | null;
  /** The invoice the object belongs to, as the service links it (or as Stripe's metadata.invoice_id names it). */
  invoiceId?: string;
}

export type Tally = Record<DifferenceKind, number>;

export interface DriftCheckResult {
  /** Objects Stripe listed, per object. */
  checked: Record<DriftObject, number>;
  /** Every difference found, per object and kind (also those beyond the report's cap). */
  totals: Record<DriftObject, Tally>;
  differences: Difference[];
  /** More differences than `maxDifferences`: the report lists the first ones, `totals` counts all. */
  truncated: boolean;
  notes: string[];
}

export interface DriftCheckOptions {
  db: DataSource;
  stripe: Stripe;
  /** null: the default account. */
  accountId: string | null;
  /** Stripe creation times, unix seconds, both inclusive. */
  fromS: number;
  toS: number;
  specs: readonly DriftObjectSpec[];
  maxDifferences: number;
  /** Objects the service holds and places only roughly, looked up one by one before being called missing at Stripe. */
  maxLookups: number;
}

/** Listed objects compared per database round trip: one Stripe page. */
const PAGE = 100;
/** Service rows read per query when walking a window. */
const WINDOW_BATCH = 500;

const emptyTally = (): Tally => ({ missing_in_service: 0, missing_at_stripe: 0, different: 0, unreadable: 0 });
const idOf = (listed: unknown) => String((listed as { id?: unknown } | null)?.id ?? 'unknown');
const isNotFound = (error: unknown) => (error as { statusCode?: unknown } | null)?.statusCode === 404;

/**
 * Compares the account's objects created in [from, to] with Stripe's lists of them, one object
 * kind after another, a page at a time. Stripe lists newest first; once a page is compared
 * (its objects read from the service by id, in one query), every object Stripe has created after
 * the page's oldest has been listed, so the service's objects of that stretch of time that were
 * not listed are missing at Stripe: the service's side is walked window by window behind the
 * listing. Memory holds a page, the ids listed at the window's edge, and the report.
 */
export async function runDriftCheck(options: DriftCheckOptions): Promise<DriftCheckResult> {
  const { db, stripe, accountId, fromS, toS } = options;
  const result: DriftCheckResult = {
    checked: Object.fromEntries(DRIFT_OBJECTS.map((o) => [o, 0])) as Record<DriftObject, number>,
    totals: Object.fromEntries(DRIFT_OBJECTS.map((o) => [o, emptyTally()])) as Record<DriftObject, Tally>,
    differences: [],
    truncated: false,
    notes: [],
  };
  const add = (difference: Difference) => {
    result.totals[difference.object][difference.kind] += 1;
    if (result.differences.length < options.maxDifferences) result.differences.push(difference);
    else result.truncated = true;
  };

  const compare = (spec: DriftObjectSpec, listed: StripeObject, held: ServiceObject | undefined, invoices = new Map<string, string>()) => {
    const invoiceId = held?.invoiceId ?? (listed.paymentId ? invoices.get(listed.paymentId) : undefined) ?? listed.invoiceId;
    const base = { object: spec.object, id: listed.id, ...(invoiceId ? { invoiceId } : {}) };
    const [amountField, amount] = Object.entries(listed.facts)[0]!;
    if (!held) {
      if (listed.expected) add({ ...base, kind: 'missing_in_service', field: amountField, service: null, stripe: amount ?? null, currency: listed.currency });
      return;
    }
    for (const [field, value] of Object.entries(listed.facts)) {
      if (listed.skip?.includes(field) || held.facts[field] === value) continue;
      add({ ...base, kind: 'different', field, service: held.facts[field] ?? null, stripe: value, currency: held.currency ?? listed.currency });
    }
  };

  const missingAtStripe = (spec: DriftObjectSpec, held: ServiceObject) => {
    const [field, amount] = Object.entries(held.facts)[0]!;
    add({ kind: 'missing_at_stripe', object: spec.object, id: held.id, field, service: amount ?? null, stripe: null, currency: held.currency, ...(held.invoiceId ? { invoiceId: held.invoiceId } : {}) });
  };

  for (const spec of options.specs) {
    /** Listed ids not yet behind every window that could hold them: the page's, and those at its oldest second. */
    let seen = new Map<string, number>();
    /** Objects of a roughly placed kind the service holds and no page listed so far. */
    const candidates = new Map<string, ServiceObject>();
    let upTo = toS;

    const closeWindow = async (window: Window) => {
      for await (const rows of spec.inWindow(db, accountId, window, WINDOW_BATCH)) {
        for (const held of rows) {
          if (seen.has(held.id)) continue;
          if (spec.retrieve) candidates.set(held.id, held);
          else missingAtStripe(spec, held);
        }
      }
    };

    const comparePage = async (page: unknown[]) => {
      result.checked[spec.object] += page.length;
      const read: StripeObject[] = [];
      let oldest = Number.POSITIVE_INFINITY;
      for (const listed of page) {
        const id = idOf(listed);
        const created = createdOf(listed);
        if (Number.isFinite(created)) oldest = Math.min(oldest, created);
        seen.set(id, created);
        candidates.delete(id);
        try {
          read.push(spec.read(listed));
        } catch (error) {
          add({ kind: 'unreadable', object: spec.object, id, field: 'object', service: null, stripe: describeError(error).slice(0, 500), currency: null });
        }
      }
      const held = read.length ? await spec.byIds(db, accountId, read.map((o) => o.id)) : new Map<string, ServiceObject>();
      // Where an object the service lacks belongs: the invoice of the payment Stripe names, when the service knows that payment.
      const lacking = read.filter((o) => !held.has(o.id) && o.expected && o.paymentId !== null).map((o) => o.paymentId!);
      const invoices = await invoicesOfPayments(db, accountId, [...new Set(lacking)]);
      for (const listed of read) compare(spec, listed, held.get(listed.id), invoices);
      // Everything Stripe created after this page's oldest object is listed by now.
      if (oldest < upTo) {
        await closeWindow({ after: oldest, upTo });
        upTo = oldest;
        seen = new Map([...seen].filter(([, created]) => created <= oldest));
      }
    };

    let page: unknown[] = [];
    for await (const listed of spec.list(stripe, { gte: fromS, lte: toS })) {
      page.push(listed);
      if (page.length === PAGE) {
        await comparePage(page);
        page = [];
      }
    }
    if (page.length) await comparePage(page);
    if (upTo >= fromS) await closeWindow({ after: fromS - 1, upTo });

    // Roughly placed objects the listing lacked: Stripe may have created them before the range.
    let looked = 0;
    for (const held of candidates.values()) {
      if (looked === options.maxLookups) {
        missingAtStripe(spec, held);
        continue;
      }
      looked += 1;
      let found: unknown;
      try {
        found = await spec.retrieve!(stripe, held.id);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        missingAtStripe(spec, held);
        continue;
      }
      const created = createdOf(found);
      if (created >= fromS && created <= toS) compare(spec, spec.read(found), held);
    }
    if (candidates.size > options.maxLookups) {
      result.notes.push(
        `${candidates.size - options.maxLookups} ${spec.object} object(s) the service holds were not in Stripe's listing and were not looked up one by one (at most ${options.maxLookups} are): they are reported missing at Stripe, though Stripe may have created them just before the range.`,
      );
    }
  }
  return result;
}
