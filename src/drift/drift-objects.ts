import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { accountScope } from '../shared/account-scope.js';
import {
  readListedCharge,
  readListedDispute,
  readListedPaymentIntent,
  readListedPayout,
  readListedRefund,
} from '../stripe/objects/listed-objects.js';

/** The Stripe objects the drift check compares, by their `object` name. */
export const DRIFT_OBJECTS = ['payment_intent', 'charge', 'refund', 'dispute', 'payout'] as const;
export type DriftObject = (typeof DRIFT_OBJECTS)[number];

export type FactValue = string | number | boolean | null;
/** The compared fields, by name; the first is the amount a missing object is reported by. */
export type Facts = Record<string, FactValue>;

/** One object as the service holds it. */
export interface ServiceObject {
  id: string;
  facts: Facts;
  currency: string | null;
  invoiceId: string | null;
}

/** One listed object as Stripe has it, read into the internal shape. */
export interface StripeObject {
  id: string;
  created: number;
  facts: Facts;
  currency: string;
  invoiceId: string | null;
  /** The payment it belongs to (its PaymentIntent, or a charge made without one): the invoice of one missing in the service is found through it. */
  paymentId: string | null;
  /**
   * Whether the service must hold it: Stripe sent (or will send) an event the service subscribes to
   * about it. A PaymentIntent still waiting for its payer, or a failed charge, comes with none.
   */
  expected: boolean;
  /** Fields compared only when true (a PaymentIntent's status, when Stripe tells the service of it). */
  skip?: string[];
}

/** A range of Stripe creation times, in unix seconds: `(after, upTo]`. */
export interface Window {
  after: number;
  upTo: number;
}

export interface DriftObjectSpec {
  object: DriftObject;
  /** Stripe's own list of the account's objects created in the range, 100 a page, auto-paginated. */
  list(stripe: Stripe, created: { gte: number; lte: number }): AsyncIterable<unknown>;
  read(listed: unknown): StripeObject;
  /** The service's objects of the account among `ids` (one query). */
  byIds(db: DataSource, accountId: string | null, ids: string[]): Promise<Map<string, ServiceObject>>;
  /** The service's objects of the account created (by Stripe) in the window, `batch` at a time. */
  inWindow(db: DataSource, accountId: string | null, window: Window, batch: number): AsyncIterable<ServiceObject[]>;
  /**
   * The service places these objects in time only roughly (a PaymentIntent by its charges, or by
   * when the service first heard of it, both never earlier than the intent itself): one it holds
   * and the listing lacks is looked up by id before it is called missing at Stripe.
   */
  retrieve?(stripe: Stripe, id: string): Promise<unknown>;
}

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

/** Rows of one fact table in a window, keyset over (stripe_created, id), which the table's scope index serves in order. */
async function* keysetWindow(
  db: DataSource,
  select: string,
  scopeColumn: string,
  scope: unknown,
  window: Window,
  batch: number,
  toObject: (row: Record<string, unknown>) => ServiceObject,
): AsyncIterable<ServiceObject[]> {
  let cursor: { created: number; id: string } | null = null;
  for (;;) {
    const rows = (await db.query(
      `${select} WHERE ${scopeColumn} <=> ? AND f.stripe_created > ? AND f.stripe_created <= ?
         ${cursor ? 'AND (f.stripe_created > ? OR (f.stripe_created = ? AND f.id > ?))' : ''}
       ORDER BY f.stripe_created, f.id LIMIT ?`,
      [scope, window.after, window.upTo, ...(cursor ? [cursor.created, cursor.created, cursor.id] : []), batch],
    )) as Record<string, unknown>[];
    if (rows.length === 0) return;
    yield rows.map(toObject);
    if (rows.length < batch) return;
    const last = rows[rows.length - 1]!;
    cursor = { created: Number(last.stripe_created), id: String(last.id) };
  }
}

const paymentIntents: DriftObjectSpec = {
  object: 'payment_intent',
  list: (stripe, created) => stripe.paymentIntents.list({ created, limit: 100 }),
  retrieve: (stripe, id) => stripe.paymentIntents.retrieve(id),
  read(listed) {
    const intent = readListedPaymentIntent(listed);
    // The statuses the service hears of: payment_intent.succeeded / .processing / .canceled, and
    // .payment_failed (back to requires_payment_method, with the error). Others come with no event.
    const told = ['succeeded', 'processing', 'canceled'].includes(intent.status) || intent.lastError !== null;
    return {
      id: intent.id,
      created: intent.created,
      facts: { amountReceived: intent.amountReceived, amount: intent.amount, status: intent.status, currency: intent.currency },
      currency: intent.currency,
      invoiceId: intent.invoiceId,
      paymentId: intent.id,
      expected: told,
      // Of an intent told of by no event, the service knows at most what its charge says (compared with the charge),
      // or nothing (Pay Now records the intent it made, empty, before its events): its amount received is compared.
      ...(told ? {} : { skip: ['amount', 'status', 'currency'] }),
    };
  },
  async byIds(db, accountId, ids) {
    const rows = (await db.query(
      "SELECT id, invoice_id, currency, amount, amount_received, status FROM payments WHERE id IN (?) AND account_id <=> ? AND id LIKE 'pi\\_%'",
      [ids, accountId],
    )) as Record<string, unknown>[];
    return new Map(rows.map((row) => [String(row.id), paymentIntentRow(row)]));
  },
  /**
   * Payments have no Stripe creation time: one is placed by its charges' (a charge is never older
   * than its PaymentIntent), or, without a charge, by when the service first heard of it.
   */
  async *inWindow(db, accountId, window, batch) {
    let cursor: { created: number; id: string } | null = null;
    for (;;) {
      const charges = (await db.query(
        `SELECT f.id, f.stripe_created, f.payment_id FROM charges f WHERE f.account_scope = ? AND f.stripe_created > ? AND f.stripe_created <= ?
           ${cursor ? 'AND (f.stripe_created > ? OR (f.stripe_created = ? AND f.id > ?))' : ''}
         ORDER BY f.stripe_created, f.id LIMIT ?`,
        [accountScope(accountId), window.after, window.upTo, ...(cursor ? [cursor.created, cursor.created, cursor.id] : []), batch],
      )) as { id: string; stripe_created: string | number; payment_id: string }[];
      const intentIds = [...new Set(charges.map((c) => c.payment_id).filter((id) => id.startsWith('pi_')))];
      if (intentIds.length) yield [...(await paymentIntents.byIds(db, accountId, intentIds)).values()];
      if (charges.length < batch) break;
      const last = charges[charges.length - 1]!;
      cursor = { created: Number(last.stripe_created), id: last.id };
    }
    let after: { at: Date; id: string } | null = null;
    for (;;) {
      const rows = (await db.query(
        `SELECT p.id, p.invoice_id, p.currency, p.amount, p.amount_received, p.status, p.created_at FROM payments p
          WHERE p.account_id <=> ? AND p.created_at >= FROM_UNIXTIME(?) AND p.created_at < FROM_UNIXTIME(?)
            ${after ? 'AND (p.created_at > ? OR (p.created_at = ? AND p.id > ?))' : ''}
            AND p.id LIKE 'pi\\_%' AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.payment_id = p.id)
          ORDER BY p.created_at, p.id LIMIT ?`,
        [accountId, window.after + 1, window.upTo + 1, ...(after ? [after.at, after.at, after.id] : []), batch],
      )) as Record<string, unknown>[];
      if (rows.length) yield rows.map(paymentIntentRow);
      if (rows.length < batch) return;
      const last = rows[rows.length - 1]!;
      after = { at: last.created_at as Date, id: String(last.id) };
    }
  },
};

function paymentIntentRow(row: Record<string, unknown>): ServiceObject {
  const currency = (row.currency as string | null) ?? null;
  return {
    id: String(row.id),
    facts: { amountReceived: num(row.amount_received), amount: num(row.amount), status: (row.status as string | null) ?? null, currency },
    currency,
    invoiceId: (row.invoice_id as string | null) ?? null,
  };
}

const CHARGE_SELECT = `SELECT f.id, f.stripe_created, f.currency, f.amount, f.amount_captured, f.amount_refunded, f.succeeded, p.invoice_id
  FROM charges f LEFT JOIN payments p ON p.id = f.payment_id`;
const chargeRow = (row: Record<string, unknown>): ServiceObject => ({
  id: String(row.id),
  facts: {
    amountCaptured: num(row.amount_captured),
    amount: num(row.amount),
    amountRefunded: num(row.amount_refunded),
    succeeded: Boolean(row.succeeded),
    currency: row.currency as string,
  },
  currency: row.currency as string,
  invoiceId: (row.invoice_id as string | null) ?? null,
});

const charges: DriftObjectSpec = {
  object: 'charge',
  list: (stripe, created) => stripe.charges.list({ created, limit: 100 }),
  read(listed) {
    const charge = readListedCharge(listed);
    return {
      id: charge.id,
      created: charge.created,
      facts: { amountCaptured: charge.amountCaptured, amount: charge.amount, amountRefunded: charge.amountRefunded, succeeded: charge.succeeded, currency: charge.currency },
      currency: charge.currency,
      invoiceId: charge.invoiceId,
      paymentId: charge.paymentId,
      // charge.succeeded tells of it (captured or not); a failed or pending charge sends no event the service subscribes to.
      expected: charge.succeeded,
    };
  },
  async byIds(db, accountId, ids) {
    const rows = (await db.query(`${CHARGE_SELECT} WHERE f.id IN (?) AND f.account_scope = ?`, [ids, accountScope(accountId)])) as Record<string, unknown>[];
    return new Map(rows.map((row) => [String(row.id), chargeRow(row)]));
  },
  inWindow: (db, accountId, window, batch) => keysetWindow(db, CHARGE_SELECT, 'f.account_scope', accountScope(accountId), window, batch, chargeRow),
};

/** Refunds and disputes: an amount, a status, a currency, and the payment (so the invoice) they belong to. */
function statusFact(table: 'refunds' | 'disputes'): Pick<DriftObjectSpec, 'byIds' | 'inWindow'> {
  const select = `SELECT f.id, f.stripe_created, f.currency, f.amount, f.status, p.invoice_id FROM ${table} f LEFT JOIN payments p ON p.id = f.payment_id`;
  const toObject = (row: Record<string, unknown>): ServiceObject => ({
    id: String(row.id),
    facts: { amount: num(row.amount), status: row.status as string, currency: row.currency as string },
    currency: row.currency as string,
    invoiceId: (row.invoice_id as string | null) ?? null,
  });
  return {
    async byIds(db, accountId, ids) {
      const rows = (await db.query(`${select} WHERE f.id IN (?) AND f.account_scope = ?`, [ids, accountScope(accountId)])) as Record<string, unknown>[];
      return new Map(rows.map((row) => [String(row.id), toObject(row)]));
    },
    // Stripe's only: PayPal's refunds and disputes (same tables, gateway 'paypal') are not Stripe's to list.
    inWindow: (db, accountId, window, batch) => keysetWindow(db, select, "f.gateway = 'stripe' AND f.account_scope", accountScope(accountId), window, batch, toObject),
  };
}

const refunds: DriftObjectSpec = {
  object: 'refund',
  list: (stripe, created) => stripe.refunds.list({ created, limit: 100 }),
  read(listed) {
    const refund = readListedRefund(listed);
    return {
      id: refund.id,
      created: refund.created,
      facts: { amount: refund.amount, status: refund.status, currency: refund.currency },
      currency: refund.currency,
      invoiceId: null,
      paymentId: refund.paymentId,
      // A refund of a customer balance or a bank transfer has no card payment: the service ignores it (no_payment).
      expected: refund.paymentId !== null,
    };
  },
  ...statusFact('refunds'),
};

const disputes: DriftObjectSpec = {
  object: 'dispute',
  list: (stripe, created) => stripe.disputes.list({ created, limit: 100 }),
  read(listed) {
    const dispute = readListedDispute(listed);
    return {
      id: dispute.id,
      created: dispute.created,
      facts: { amount: dispute.amount, status: dispute.status, currency: dispute.currency },
      currency: dispute.currency,
      invoiceId: null,
      paymentId: dispute.paymentId,
      expected: dispute.chargeId !== null,
    };
  },
  ...statusFact('disputes'),
};

const PAYOUT_SELECT = 'SELECT f.id, f.stripe_created, f.currency, f.amount, f.status FROM payouts f';
const payoutRow = (row: Record<string, unknown>): ServiceObject => ({
  id: String(row.id),
  facts: { amount: num(row.amount), status: row.status as string, currency: row.currency as string },
  currency: row.currency as string,
  invoiceId: null,
});

const payouts: DriftObjectSpec = {
  object: 'payout',
  list: (stripe, created) => stripe.payouts.list({ created, limit: 100 }),
  read(listed) {
    const payout = readListedPayout(listed);
    return {
      id: payout.id,
      created: payout.created,
      facts: { amount: payout.amount, status: payout.status, currency: payout.currency },
      currency: payout.currency,
      invoiceId: null,
      paymentId: null,
      expected: true,
    };
  },
  async byIds(db, accountId, ids) {
    const rows = (await db.query(`${PAYOUT_SELECT} WHERE f.id IN (?) AND f.account_id <=> ?`, [ids, accountId])) as Record<string, unknown>[];
    return new Map(rows.map((row) => [String(row.id), payoutRow(row)]));
  },
  inWindow: (db, accountId, window, batch) => keysetWindow(db, PAYOUT_SELECT, 'f.account_id', accountId, window, batch, payoutRow),
};

/** The invoices the service links these payments of the account to (one query): where an object missing in the service belongs. */
export async function invoicesOfPayments(db: DataSource, accountId: string | null, paymentIds: string[]): Promise<Map<string, string>> {
  if (paymentIds.length === 0) return new Map();
  const rows = (await db.query('SELECT id, invoice_id FROM payments WHERE id IN (?) AND account_id <=> ? AND invoice_id IS NOT NULL', [paymentIds, accountId])) as {
    id: string;
    invoice_id: string;
  }[];
  return new Map(rows.map((row) => [row.id, row.invoice_id]));
}

/** In the order the check runs them and the report lists them. */
export const DRIFT_SPECS: readonly DriftObjectSpec[] = [paymentIntents, charges, refunds, disputes, payouts];
