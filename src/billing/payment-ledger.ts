import type { Statement, Tx } from '../db/folded-transaction.js';
import type { FactRef } from '../events/handler-registry.js';
import { deriveInvoiceState, type InvoiceFacts, type InvoiceState } from './invoice-state.js';
import type { Logger } from '../shared/logger.js';

/**
 * The facts store, used inside the event's transaction. Lock order is always
 * payment rows → invoice rows, so events of one payment run one after another
 * and payments of one invoice serialise on the invoice: a lone event takes its
 * payment then its invoice; a batch takes all its payments, in id order, then
 * all their invoices, in id order (`lockPaymentsUpFront`), so two batches do
 * not wait on each other in a circle over payments and invoices. A payment is
 * created and locked with INSERT … ON DUPLICATE KEY UPDATE, which takes the
 * existing row's lock exclusively at once: INSERT IGNORE would take it shared,
 * and two transactions holding it shared would deadlock upgrading it.
 * What can still deadlock, rarely: a second event of an unlinked payment in a
 * batch naming another invoice than the first, and payouts (locked in event
 * order). InnoDB detects it at once; a batch then reruns its events one by
 * one, a lone event runs again (events/process-event.ts).
 */

export interface PaymentRow {
  id: string;
  invoice_id: string | null;
  unmatched_reason: string | null;
  account_id: string | null;
  currency: string | null;
  amount: number | null;
  amount_received: number;
  status: string | null;
  status_event_created: number;
  /** PayPal's fee and net of the capture (its seller_receivable_breakdown); null until known, and for Stripe's payments. */
  fee: number | null;
  net: number | null;
}

/** The payment row, locked, and the invoice it belongs to (or the one its event names), locked too. */
export interface LockedPayment {
  payment: PaymentRow;
  /** The payment's linked invoice if it has one, else the referenced one; undefined when that does not exist. */
  invoice: LockedInvoice | undefined;
}

/**
 * Creates the payment row if it is new, then locks it and its invoice (the one
 * it is linked to, or else the one the event references) in one locking read:
 * MariaDB reads the payment by its key first, then the invoice it names, so
 * the lock order is still payment → invoice. With `fact`, the fact row the
 * event writes is read in the same round trip (see `storedFact`). One round
 * trip, two or three statements.
 */
export async function lockPayment(
  manager: Tx,
  paymentId: string,
  origin: { accountId: string | null; livemode: boolean },
  referencedInvoiceId: string | null | undefined,
  fact?: FactRef,
): Promise<LockedPayment> {
  const early = takePreLocked(manager, paymentId, referencedInvoiceId);
  if (early) return early;
  const factRead = fact ? factsReadStatement([fact]) : undefined;
  const [, rows, facts] = (await manager.query(
    `INSERT INTO payments (id, account_id, livemode) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE id = id;
     SELECT p.id, p.invoice_id, p.unmatched_reason, p.account_id, p.currency, p.amount, p.amount_received, p.status, p.status_event_created, p.fee, p.net,
            i.id AS invoice_row_id, i.account_id AS invoice_account_id, i.currency AS invoice_currency, i.amount_due AS invoice_amount_due,
            i.status AS invoice_status
       FROM payments p LEFT JOIN invoices i ON i.id = COALESCE(p.invoice_id, ?)
      WHERE p.id = ? FOR UPDATE${factRead ? `;\n${factRead.sql}` : ''}`,
    [paymentId, origin.accountId, origin.livemode, referencedInvoiceId ?? null, paymentId, ...(factRead?.params ?? [])],
  )) as [unknown, LockedRow[], StoredFactRow[] | undefined];
  if (fact) keepFacts(manager, [fact], facts ?? []);
  const { invoice_row_id, invoice_account_id, invoice_currency, invoice_amount_due, invoice_status, ...payment } = rows[0]!;
  return {
    payment: normalise(payment),
    invoice:
      invoice_row_id === null
        ? undefined
        : { id: invoice_row_id, account_id: invoice_account_id, currency: invoice_currency!, amount_due: invoice_amount_due!, status: invoice_status! },
  };
}

/** What a batch locked up front, per payment: taken by the first of its events to ask (`lockPayment`). */
const preLocked = new WeakMap<Tx, Map<string, { referencedInvoiceId: string | null; locked: LockedPayment }>>();

/** The payment as the batch locked it, once: a later event of the same payment reads it again (it may have changed since). */
function takePreLocked(manager: Tx, paymentId: string, referencedInvoiceId: string | null | undefined): LockedPayment | undefined {
  const locked = preLocked.get(manager);
  const entry = locked?.get(paymentId);
  if (!entry) return undefined;
  locked!.delete(paymentId);
  return entry.referencedInvoiceId === (referencedInvoiceId ?? null) ? entry.locked : undefined;
}

export interface PaymentLock {
  paymentId: string;
  referencedInvoiceId: string | null | undefined;
  origin: { accountId: string | null; livemode: boolean };
  fact?: FactRef;
}

/**
 * A batch's locks, taken before any of its events runs: every payment (created
 * if new) in id order, then every invoice they belong to or name, in id order,
 * in two round trips whatever the batch's size; the fact rows the events write
 * are read with the payments. `lockPayment` then answers the first event of
 * each payment from what was locked here, without a round trip of its own.
 */
export async function lockPaymentsUpFront(manager: Tx, locks: PaymentLock[]): Promise<void> {
  const byPayment = new Map<string, PaymentLock>();
  for (const lock of locks) if (!byPayment.has(lock.paymentId)) byPayment.set(lock.paymentId, lock);
  const ordered = [...byPayment.values()].sort((a, b) => (a.paymentId < b.paymentId ? -1 : a.paymentId > b.paymentId ? 1 : 0));
  if (ordered.length === 0) return;
  // Loops, not flatMap/map/filter chains: several times slower in V8 for a batch's payments, and each
  // array shape a chained builtin meets makes V8 compile the function again (as for deriveInvoiceState).
  const facts: FactRef[] = [];
  for (const lock of locks) if (lock.fact) facts.push(lock.fact);
  const factRead = facts.length ? factsReadStatement(facts) : undefined;
  const params: unknown[] = [];
  const paymentIds: string[] = [];
  for (const lock of ordered) {
    params.push(lock.paymentId, lock.origin.accountId, lock.origin.livemode);
    paymentIds.push(lock.paymentId);
  }
  params.push(paymentIds);
  if (factRead) for (const param of factRead.params) params.push(param);
  const [, payments, factRows] = (await manager.query(
    `INSERT INTO payments (id, account_id, livemode) VALUES ${'(?, ?, ?), '.repeat(ordered.length - 1)}(?, ?, ?) ON DUPLICATE KEY UPDATE id = id;
     SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id IN (?) ORDER BY id FOR UPDATE${factRead ? `;\n${factRead.sql}` : ''}`,
    params,
  )) as [unknown, PaymentRow[], StoredFactRow[] | undefined];
  if (facts.length) keepFacts(manager, facts, factRows ?? []);
  const invoiceOf = (payment: PaymentRow) => payment.invoice_id ?? byPayment.get(payment.id)!.referencedInvoiceId ?? null;
  const distinctInvoiceIds = new Set<string>();
  for (const payment of payments) {
    const invoiceId = invoiceOf(payment);
    if (invoiceId !== null) distinctInvoiceIds.add(invoiceId);
  }
  const invoiceIds = [...distinctInvoiceIds].sort();
  const invoices =
    invoiceIds.length === 0
      ? []
      : ((await manager.query(`SELECT ${INVOICE_COLUMNS} FROM invoices WHERE id IN (?) ORDER BY id FOR UPDATE`, [invoiceIds])) as LockedInvoice[]);
  const invoiceById = new Map<string, LockedInvoice>();
  for (const invoice of invoices) invoiceById.set(invoice.id, invoice);
  const entries = new Map<string, { referencedInvoiceId: string | null; locked: LockedPayment }>();
  for (const row of payments) {
    const invoiceId = invoiceOf(row);
    entries.set(row.id, {
      referencedInvoiceId: byPayment.get(row.id)!.referencedInvoiceId ?? null,
      locked: { payment: normalise(row), invoice: invoiceId === null ? undefined : invoiceById.get(invoiceId) },
    });
  }
  preLocked.set(manager, entries);
}

/**
 * A fact row (charge, refund, dispute) as the event's transaction knows it: who holds it, and
 * its status. Stripe object ids are globally unique, so a row held by another payment is never
 * this event's to change: another account's (a merchant signing events about objects it does
 * not own: `account_mismatch`), or another payment of the same account (a fact never moves
 * between payments: `payment_mismatch`). A fact row is only ever written by events of the
 * payment holding it, which hold that payment's lock; so reading it after taking the lock
 * (READ COMMITTED) sees its latest state without a lock of its own. A new id claimed by two
 * payments at once (only a forged event can do that): the second INSERT fails on the key, its
 * event is tried again (a batch reruns its events alone), and then sees the first holder.
 */
export interface StoredFact {
  paymentId: string;
  accountScope: string;
  /** Refunds and disputes; null for charges (their amounts only grow, merged in SQL). */
  status: string | null;
  statusEventCreated: number;
  /** A PayPal refund's fee and net are stored (its seller_payable_breakdown); false for every other fact. */
  breakdownKnown?: boolean;
}

interface StoredFactRow {
  fact_table: string;
  id: string;
  payment_id: string;
  account_scope: string;
  status: string | null;
  status_event_created: string | number;
  breakdown_known: string | number;
}

/** What the transaction knows of fact rows: read with the payment locks, then kept current by the handlers' writes. */
const knownFacts = new WeakMap<Tx, Map<string, StoredFact | null>>();
const factKey = (fact: FactRef) => `${fact.table}\u0000${fact.id}`;

/** One SELECT over the tables the facts are in (table names come from code, never from input). */
function factsReadStatement(facts: FactRef[]): Statement {
  const byTable = new Map<FactRef['table'], Set<string>>();
  for (const fact of facts) (byTable.get(fact.table) ?? byTable.set(fact.table, new Set()).get(fact.table)!).add(fact.id);
  const parts = [...byTable.keys()].map((table) => {
    const status = table === 'charges' ? 'NULL AS status, 0 AS status_event_created' : 'status, status_event_created';
    const breakdown = table === 'refunds' ? '(fee IS NOT NULL AND net IS NOT NULL)' : '0';
    return `SELECT '${table}' AS fact_table, id, payment_id, account_scope, ${status}, ${breakdown} AS breakdown_known FROM ${table} WHERE id IN (?)`;
  });
  return { sql: parts.join(' UNION ALL '), params: [...byTable.values()].map((ids) => [...ids]) };
}

function keepFacts(manager: Tx, facts: FactRef[], rows: StoredFactRow[]): void {
  const known = knownFacts.get(manager) ?? knownFacts.set(manager, new Map()).get(manager)!;
  for (const fact of facts) known.set(factKey(fact), null);
  for (const row of rows) {
    known.set(factKey({ table: row.fact_table as FactRef['table'], id: row.id }), {
      paymentId: row.payment_id,
      accountScope: row.account_scope,
      status: row.status,
      statusEventCreated: Number(row.status_event_created),
      breakdownKnown: Number(row.breakdown_known) === 1,
    });
  }
}

/** The fact row as it stands in this transaction (null: not stored yet); read with the locks, so usually without a round trip. */
export async function storedFact(manager: Tx, fact: FactRef): Promise<StoredFact | null> {
  const known = knownFacts.get(manager)?.get(factKey(fact));
  if (known !== undefined) return known;
  const { sql, params } = factsReadStatement([fact]);
  keepFacts(manager, [fact], (await manager.query(sql, params)) as StoredFactRow[]);
  return knownFacts.get(manager)!.get(factKey(fact))!;
}

/** After a handler wrote a fact row (deferred): what the row now is, for the next event of the transaction about it. */
export function rememberFact(manager: Tx, fact: FactRef, stored: StoredFact): void {
  (knownFacts.get(manager) ?? knownFacts.set(manager, new Map()).get(manager)!).set(factKey(fact), stored);
}

const PAYMENT_COLUMNS = 'id, invoice_id, unmatched_reason, account_id, currency, amount, amount_received, status, status_event_created, fee, net';
const INVOICE_COLUMNS = 'id, account_id, currency, amount_due, status';

const normalise = (row: PaymentRow): PaymentRow => ({
  ...row,
  amount: row.amount === null ? null : Number(row.amount),
  amount_received: Number(row.amount_received),
  status_event_created: Number(row.status_event_created),
  fee: row.fee === null || row.fee === undefined ? null : Number(row.fee),
  net: row.net === null || row.net === undefined ? null : Number(row.net),
});

/** The payment's columns and its invoice's, prefixed, as the locking read returns them. */
interface LockedRow extends PaymentRow {
  invoice_row_id: string | null;
  invoice_account_id: string | null;
  invoice_currency: string | null;
  invoice_amount_due: string | null;
  invoice_status: string | null;
}

/** The locked invoice row: what re-deriving its state needs, read once with the lock. */
export interface LockedInvoice {
  id: string;
  account_id: string | null;
  currency: string;
  amount_due: string;
  status: string;
}

export type InvoiceLink = { invoice: LockedInvoice } | { invoice: null; unmatchedReason: string };

/**
 * Which invoice a payment belongs to, given what `lockPayment` locked. A
 * payment, once linked, stays on its invoice: a later event naming another
 * invoice does not move the money. The payment's own changes are deferred:
 * they ride with the transaction's next statement.
 */
export function linkInvoice(
  manager: Tx,
  { payment, invoice }: LockedPayment,
  referencedInvoiceId: string | null | undefined,
  accountId: string | null,
): InvoiceLink {
  if (payment.invoice_id) {
    if (!invoice) throw new Error(`invoice ${payment.invoice_id} of payment ${payment.id} does not exist`);
    return { invoice };
  }
  if (!referencedInvoiceId) {
    if (payment.unmatched_reason) return { invoice: null, unmatchedReason: payment.unmatched_reason };
    manager.deferUpdate('payments', payment.id, { unmatched_reason: 'no_invoice_reference' });
    return { invoice: null, unmatchedReason: 'no_invoice_reference' };
  }
  const reason = !invoice ? 'invoice_not_found' : invoice.account_id !== accountId ? 'account_mismatch' : null;
  if (!invoice || reason) {
    manager.deferUpdate('payments', payment.id, { unmatched_reason: reason });
    return { invoice: null, unmatchedReason: reason ?? 'invoice_not_found' };
  }
  manager.deferUpdate('payments', payment.id, { invoice_id: referencedInvoiceId, unmatched_reason: null });
  payment.invoice_id = referencedInvoiceId;
  return { invoice };
}

/** One row per fact of the invoices being re-derived, all kinds in one round trip (see `FACTS_SQL`). */
interface FactRow {
  invoice_id: string;
  kind: 'payment' | 'charge' | 'refund' | 'dispute';
  id: string;
  payment_id: string;
  charge_id: string | null;
  currency: string | null;
  amount: string;
  amount_refunded: string | null;
  amount_released: string | null;
  status: string | null;
  succeeded: number | null;
}

const FACTS_SQL = `
  SELECT p.invoice_id, 'payment' AS kind, p.id, p.id AS payment_id, NULL AS charge_id, p.currency, p.amount_received AS amount,
         NULL AS amount_refunded, NULL AS amount_released, NULL AS status, NULL AS succeeded
    FROM payments p WHERE p.invoice_id IN (?)
  UNION ALL
  SELECT p.invoice_id, 'charge', c.id, c.payment_id, NULL, c.currency, c.amount_captured, c.amount_refunded, c.amount_released, NULL, c.succeeded
    FROM charges c JOIN payments p ON p.id = c.payment_id WHERE p.invoice_id IN (?)
  UNION ALL
  SELECT p.invoice_id, 'refund', r.id, r.payment_id, r.charge_id, r.currency, r.amount, NULL, NULL, r.status, NULL
    FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE p.invoice_id IN (?)
  UNION ALL
  SELECT p.invoice_id, 'dispute', d.id, d.payment_id, NULL, d.currency, d.amount, NULL, NULL, d.status, NULL
    FROM disputes d JOIN payments p ON p.id = d.payment_id WHERE p.invoice_id IN (?)`;

/** The invoices each transaction must re-derive before it commits. */
const toRecompute = new WeakMap<Tx, Map<string, LockedInvoice>>();

/**
 * Re-derives the invoice's totals and status from all its facts just before
 * the transaction commits (the caller holds the invoice lock, which lasts until
 * then): once per invoice however many events of the transaction touched it,
 * and every invoice of the transaction in one read.
 */
export function recomputeBeforeCommit(manager: Tx, invoice: LockedInvoice, logger: Logger): void {
  let invoices = toRecompute.get(manager);
  if (!invoices) {
    const pending = new Map<string, LockedInvoice>();
    toRecompute.set(manager, pending);
    manager.beforeCommit('recompute-invoices', async () => {
      toRecompute.delete(manager);
      for (const [id, state] of await recomputeInvoices(manager, [...pending.values()])) {
        // debug: at a thousand events a second an info line each would be the largest cost of logging; the event row is the record.
        logger.debug('invoice updated', { invoiceId: id, status: state.status, amountPaid: state.amountPaid });
      }
    });
    invoices = pending;
  }
  if (!invoices.has(invoice.id)) invoices.set(invoice.id, invoice);
}

async function recomputeInvoices(manager: Tx, invoices: LockedInvoice[]): Promise<Map<string, InvoiceState>> {
  const ids = invoices.map((invoice) => invoice.id);
  const rows = (await manager.query(FACTS_SQL, [ids, ids, ids, ids])) as FactRow[];
  // Each invoice's rows, in the order read, in one pass (not a pass over every row per invoice).
  const byInvoice = new Map<string, FactRow[]>();
  for (const row of rows) {
    const mine = byInvoice.get(row.invoice_id);
    if (mine) mine.push(row);
    else byInvoice.set(row.invoice_id, [row]);
  }
  const states = new Map<string, InvoiceState>();
  for (const invoice of invoices) states.set(invoice.id, deriveInvoiceState(toFacts(invoice, byInvoice.get(invoice.id) ?? [])));
  // Nothing later in the transaction reads the invoice rows, so the write rides with the next statement. Row
  // updates of several invoices go as one UPDATE with a CASE on the id per column, a column all of them set
  // alike set once (folded-transaction.ts): alone against MariaDB, 32 invoices cost it 13-17 µs each this way
  // against 19-21 through the JOIN on a UNION of rows this replaces. One invoice: `UPDATE … WHERE id = ?` as before.
  for (const [id, state] of states) {
    manager.deferUpdate('invoices', id, {
      amount_paid: state.amountPaid,
      amount_refunded: state.amountRefunded,
      amount_disputed: state.amountDisputed,
      status: state.status,
      review_reason: state.reviewReason,
    });
  }
  return states;
}

function toFacts(invoice: LockedInvoice, rows: FactRow[]): InvoiceFacts {
  // One pass, in the order read; each kind's array built the same way whatever the mix, so the
  // arrays deriveInvoiceState loops over keep one shape (see its comment).
  const facts: InvoiceFacts = { currency: invoice.currency, amountDue: Number(invoice.amount_due), voided: invoice.status === 'void', payments: [], charges: [], refunds: [], disputes: [] };
  for (const row of rows) {
    if (row.kind === 'payment') facts.payments.push({ id: row.id, currency: row.currency, amountReceived: Number(row.amount) });
    else if (row.kind === 'charge') {
      facts.charges.push({
        id: row.id,
        paymentId: row.payment_id,
        currency: row.currency ?? '',
        amountCaptured: Number(row.amount),
        amountRefunded: Number(row.amount_refunded),
        amountReleased: Number(row.amount_released ?? 0),
        succeeded: Boolean(row.succeeded),
      });
    } else if (row.kind === 'refund') {
      facts.refunds.push({ id: row.id, paymentId: row.payment_id, chargeId: row.charge_id, currency: row.currency ?? '', amount: Number(row.amount), status: row.status ?? '' });
    } else if (row.kind === 'dispute') facts.disputes.push({ id: row.id, paymentId: row.payment_id, currency: row.currency ?? '', amount: Number(row.amount), status: row.status ?? '' });
  }
  return facts;
}
