import type { DataSource } from 'typeorm';
import { StripeEventEntity } from '../events/stripe-event.entity.js';
import { eventView } from '../events/event-view.js';
import { filterSql, type EventListQuery } from './event-query.schema.js';
import { encodeCursor } from './time-range.js';
import { chooseCopy, type AccountChoice } from './event-copies.js';

/** What a Stripe object id (or an invoice id, inv_…) looks like: the only kind of q worth looking for inside payloads. */
const ID_LIKE = /^[a-z]{2,12}_[A-Za-z0-9]{6,}$/;
/** Candidates found through indexes; an object with more events than this is not one on-call reads by hand. */
const MAX_CANDIDATES = 5000;
/** One invoice number names at most one invoice per account. */
const MAX_INVOICES_PER_NUMBER = 100;

interface EventRow {
  id: string;
  gateway: string;
  account_id: string | null;
  type: string;
  livemode: number;
  object_id: string | null;
  api_version: string | null;
  source: string;
  status: string;
  reason: string | null;
  attempts: number;
  last_error: string | null;
  received_at: Date;
  processed_at: Date | null;
}

interface AttemptRow {
  attempt: number;
  job_id: string | null;
  started_at: Date;
  finished_at: Date;
  outcome: string;
  reason: string | null;
  error: string | null;
  stack_line: string | null;
}

const summary = (row: EventRow) => ({
  id: row.id,
  gateway: row.gateway,
  accountId: row.account_id,
  type: row.type,
  livemode: Boolean(row.livemode),
  objectId: row.object_id,
  apiVersion: row.api_version,
  source: row.source,
  status: row.status,
  reason: row.reason,
  attempts: row.attempts,
  lastError: row.last_error,
  receivedAt: row.received_at.toISOString(),
  processedAt: row.processed_at?.toISOString() ?? null,
});

/** On-call's view of the inbox: find events by filter or by any id they carry, and read one event's whole story. */
export function createEventSearch(dataSource: DataSource) {
  const rows = <T>(sql: string, params: unknown[]) => dataSource.query(sql, params) as Promise<T[]>;

  /**
   * Stripe object ids whose events are about `q`, found through primary keys
   * and indexes of the billing tables:
   * - q is an invoice id, or an invoice number (idx_invoices_number; numbers are unique
   *   per account, so one number can name an invoice in each of several accounts, and
   *   all of them count): its payments, and their charges, refunds and disputes;
   * - q is a PaymentIntent: its charges, refunds and disputes (each carries it);
   * - q is a charge: its PaymentIntent (latest_charge) and the refunds and disputes that carry it.
   * Only facts already applied are in those tables; an event that failed is
   * found by its own object id or by the payload search below, which looks for the
   * invoice ids a number names too (`invoiceIds`).
   */
  async function relatedObjectIds(q: string, onlyAccount: string | undefined): Promise<{ objectIds: string[]; invoiceIds: string[] }> {
    const ids = new Set<string>([q]);
    // A token confined to one account follows that account's objects only: what another account
    // holds must not even widen the search (`payloadSearched` would tell that it exists).
    const visible = (column: string) => `(? IS NULL OR ${column} = ?)`;
    const scope = [onlyAccount ?? null, onlyAccount ?? null];
    const invoiceIds = (
      await rows<{ id: string }>(`SELECT id FROM invoices WHERE number = ? AND ${visible('account_id')} LIMIT ${MAX_INVOICES_PER_NUMBER}`, [q, ...scope])
    ).map((row) => row.id);
    const payments = new Set<string>();
    for (const row of await rows<{ id: string }>(`SELECT id FROM payments WHERE (invoice_id IN (?) OR id = ?) AND ${visible('account_id')} LIMIT 1000`, [
      [q, ...invoiceIds],
      q,
      ...scope,
    ])) {
      payments.add(row.id);
    }
    const [charge] = await rows<{ payment_id: string }>(`SELECT payment_id FROM charges WHERE id = ? AND ${visible('account_scope')}`, [q, ...scope]);
    if (charge) {
      ids.add(charge.payment_id);
      for (const table of ['refunds', 'disputes']) {
        for (const row of await rows<{ id: string }>(`SELECT id FROM ${table} WHERE payment_id = ? AND charge_id = ?`, [charge.payment_id, q])) {
          ids.add(row.id);
        }
      }
    }
    if (payments.size) {
      const list = [...payments];
      for (const id of list) ids.add(id);
      for (const table of ['charges', 'refunds', 'disputes']) {
        for (const row of await rows<{ id: string }>(`SELECT id FROM ${table} WHERE payment_id IN (?) LIMIT 1000`, [list])) ids.add(row.id);
      }
    }
    return { objectIds: [...ids], invoiceIds };
  }

  /** `onlyAccount` (here and in detail): a token confined to one merchant account sees that account's events only. */
  async function list(query: EventListQuery, onlyAccount?: string) {
    const { where, params } = filterSql(query, onlyAccount);
    let payloadSearched = false;
    if (query.q) {
      const { objectIds, invoiceIds } = await relatedObjectIds(query.q, onlyAccount);
      const scope = onlyAccount ? ' AND account_scope = ?' : '';
      const candidates = await rows<{ id: string }>(
        `(SELECT id FROM stripe_events WHERE id = ?${scope}) UNION (SELECT id FROM stripe_events WHERE object_id IN (?)${scope} LIMIT ${MAX_CANDIDATES})`,
        onlyAccount ? [query.q, onlyAccount, objectIds, onlyAccount] : [query.q, objectIds],
      );
      const ids = candidates.map((row) => row.id);
      // Ids that appear only inside a payload (the charge inside a dispute, the invoice
      // in a PaymentIntent's metadata whose event failed, so no payments row exists) can only
      // be found by a LIKE over the payload, which no index serves. It runs only when there is
      // an id to look for (q when id-shaped, the invoices an invoice number names) and the other
      // filters bound the rows it reads: a time window (`since`, over idx_stripe_events_received)
      // or the small failed/received sets (idx_stripe_events_status_received).
      // The pattern includes the JSON quotes, so it matches the whole id, never a prefix of another.
      const inPayload = [...new Set([...(ID_LIKE.test(query.q) ? [query.q] : []), ...invoiceIds])];
      payloadSearched = inPayload.length > 0 && (query.since !== undefined || query.status === 'failed' || query.status === 'received');
      if (payloadSearched) {
        const likes = inPayload.map(() => 'payload LIKE ?');
        where.push(`(${[...(ids.length ? ['id IN (?)'] : []), ...likes].join(' OR ')})`);
        if (ids.length) params.push(ids);
        params.push(...inPayload.map((id) => `%"${id.replace(/_/g, '\\_')}"%`));
      } else if (ids.length) {
        where.push('id IN (?)');
        params.push(ids);
      } else {
        return { data: [], nextCursor: null, payloadSearched };
      }
    }
    if (query.cursor) {
      // The whole key: copies of one event for two accounts can share (received_at, id). A cursor
      // written before the account was in it carries none, and continues after the id as before.
      // MariaDB ranges over `received_at <= ?`, not over a row comparison; the latter only drops the page's first rows.
      where.push('received_at <= ?', '(received_at, id, account_scope) < (?, ?, ?)');
      params.push(query.cursor.at, query.cursor.at, query.cursor.id, query.cursor.scope ?? '\u{10FFFF}');
    }
    const found = await rows<EventRow>(
      `SELECT id, gateway, account_id, type, livemode, object_id, api_version, source, status, reason, attempts, last_error, received_at, processed_at
         FROM stripe_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY received_at DESC, id DESC, account_scope DESC LIMIT ?`,
      [...params, query.limit + 1],
    );
    const page = found.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      data: page.map(summary),
      nextCursor: found.length > query.limit && last ? encodeCursor(last.received_at, last.id, last.account_id ?? '') : null,
      payloadSearched,
    };
  }

  /**
   * One event: the record, the raw payload, every try with its error and first stack line, and the replays.
   * An id stored for several accounts needs `account` to say which copy (else 409 event_ambiguous).
   */
  async function detail(eventId: string, account?: AccountChoice, onlyAccount?: string) {
    const copies = (await dataSource.getRepository(StripeEventEntity).find({ where: { id: eventId }, order: { accountScope: 'ASC' } })).filter(
      // Another account's copy is not there at all: neither found nor named in the 404 or 409.
      (copy) => !onlyAccount || copy.accountId === onlyAccount,
    );
    const record = chooseCopy(eventId, account, copies, (copy) => copy.accountId, 'Check the id (evt_...) in the Stripe Dashboard.');
    const key = [eventId, record.accountScope];
    const attempts = (await rows<AttemptRow>('SELECT * FROM event_attempts WHERE event_id = ? AND account_scope = ? ORDER BY id', key)).map((a) => ({
      attempt: a.attempt,
      jobId: a.job_id,
      startedAt: a.started_at.toISOString(),
      finishedAt: a.finished_at.toISOString(),
      durationMs: a.finished_at.getTime() - a.started_at.getTime(),
      outcome: a.outcome,
      reason: a.reason,
      error: a.error,
      stackLine: a.stack_line,
    }));
    const replays = (
      await rows<{ audit_id: string; at: Date; actor_id: string; actor_name: string; action: string }>(
        `SELECT r.audit_id, a.at, a.actor_id, a.actor_name, a.action
           FROM event_replays r JOIN audit_log a ON a.id = r.audit_id
          WHERE r.event_id = ? AND r.account_scope = ? ORDER BY a.id`,
        key,
      )
    ).map((r) => ({ at: r.at.toISOString(), auditId: Number(r.audit_id), by: { id: r.actor_id, name: r.actor_name }, bulk: r.action !== 'event.replay' }));

    const history = [
      // Fetched by the catch-up: no delivery brought it, the account's key listed it from Stripe.
      { at: record.receivedAt.toISOString(), what: 'received' as const, ...(record.source === 'catch_up' ? { via: 'catch_up' } : {}) },
      ...attempts.map((a) => ({
        at: a.finishedAt,
        what: 'attempt' as const,
        attempt: a.attempt,
        outcome: a.outcome,
        ...(a.reason ? { reason: a.reason } : {}),
        ...(a.error ? { error: a.error } : {}),
      })),
      ...replays.map((r) => ({ at: r.at, what: 'replayed' as const, by: r.by.name, auditId: r.auditId })),
    ].sort((x, y) => x.at.localeCompare(y.at));

    return {
      ...eventView(record),
      // `attempts` stays the counter of the record; each try, in order, is in `tries`.
      tries: attempts,
      errors: attempts.filter((a) => a.error).map((a) => ({ attempt: a.attempt, at: a.finishedAt, error: a.error, stackLine: a.stackLine })),
      replays,
      history,
    };
  }

  return { list, detail };
}

export type EventSearch = ReturnType<typeof createEventSearch>;
