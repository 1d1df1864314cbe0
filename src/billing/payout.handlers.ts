import type { EventHandler } from '../events/handler-registry.js';
import { readPayout } from '../stripe/objects/payout-object.js';
import { changesStatus, payoutStatusMoves } from './status-order.js';

/** Events after which Stripe's list of the payout's balance transactions is worth (re)reading. */
const FETCH_TRIGGERS = new Set(['payout.paid', 'payout.reconciliation_completed']);

interface PayoutRow {
  account_id: string | null;
  status: string;
  items_status: string;
  status_event_created: string;
  items_requested_event_id: string | null;
  items_requested_event_created: string;
}

/**
 * payout.created / .paid / .failed / .canceled / .reconciliation_completed.
 * Writes the payout's status (forward only), records the status in its
 * history, and on paid / reconciliation_completed records that its items must
 * be fetched. The fetch itself is the payout-reconciliation job, queued by the
 * dispatcher from that record once this transaction has committed.
 */
export const onPayout: EventHandler = async (context) => {
  const { manager, event, accountId } = context;
  // Any supported API version's payout, its fields checked (a bad one rejects the event as invalid_object).
  const payout = readPayout(event);
  const status = payout.status;

  const fields = [
    payout.amount,
    payout.currency,
    status,
    event.created,
    payout.automatic,
    payout.method,
    payout.description,
    payout.arrivalDate,
    payout.balanceTransactionId,
    payout.failureBalanceTransactionId,
    payout.failureCode,
    payout.failureMessage,
    payout.reconciliationStatus,
  ];
  // Insert-if-new and lock in one: on an existing payout, ON DUPLICATE KEY UPDATE takes the row's lock
  // exclusively at once, where INSERT IGNORE would take it shared, and two events of the payout holding it
  // shared would deadlock upgrading it. Whether this event created the row needs no flag: a new row
  // carries this event's status (so the status step below changes nothing) and has no history yet.
  const [, [current]] = (await manager.query(
    `INSERT INTO payouts (amount, currency, status, status_event_created, automatic, method, description, arrival_date,
       balance_transaction_id, failure_balance_transaction_id, failure_code, failure_message, stripe_reconciliation_status,
       id, account_id, livemode, stripe_created)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id;
     SELECT account_id, status, status_event_created, items_status, items_requested_event_id, items_requested_event_created
       FROM payouts WHERE id = ? FOR UPDATE`,
    [...fields, payout.id, accountId, event.livemode, payout.created, payout.id],
  )) as [unknown, PayoutRow[]];
  if (!current) throw new Error(`payout ${payout.id} vanished while locked`);
  // A payout belongs to the account whose events created it: a merchant who can sign events for their
  // own endpoint must not be able to move another account's payout (as with payments).
  if (current.account_id !== accountId) return { ignored: 'account_mismatch' };
  let changed = false;

  if (
    changesStatus(payoutStatusMoves, { status: current.status, eventCreated: Number(current.status_event_created) }, { status, eventCreated: event.created })
  ) {
    // Links to the payout's transactions only ever get set: an older snapshot must not erase them.
    await manager.query(
      `UPDATE payouts SET amount = ?, currency = ?, status = ?, status_event_created = ?, automatic = ?, method = ?, description = ?,
         arrival_date = ?, balance_transaction_id = COALESCE(?, balance_transaction_id),
         failure_balance_transaction_id = COALESCE(?, failure_balance_transaction_id), failure_code = ?, failure_message = ?
       WHERE id = ?`,
      [...fields.slice(0, -1), payout.id],
    );
    changed = true;
  }
  // Stripe's own reconciliation_status only moves to `completed`, whichever status event carries it.
  if (payout.reconciliationStatus) {
    const result = (await manager.query(
      `UPDATE payouts SET stripe_reconciliation_status = ?
        WHERE id = ? AND (stripe_reconciliation_status IS NULL OR (stripe_reconciliation_status <> 'completed' AND stripe_reconciliation_status <> ?))`,
      [payout.reconciliationStatus, payout.id, payout.reconciliationStatus],
    )) as { affectedRows: number };
    if (result.affectedRows > 0) changed = true;
  }

  // History: the first time each status was seen, whatever order the events came in.
  // (Read first: with mysql2's FOUND_ROWS flag an upsert's affectedRows cannot tell "unchanged" from "inserted".)
  const [seen] = (await manager.query('SELECT event_id, event_created FROM payout_status_history WHERE payout_id = ? AND status = ?', [
    payout.id,
    status,
  ])) as { event_id: string; event_created: string }[];
  if (!seen) {
    await manager.query('INSERT INTO payout_status_history (payout_id, status, event_id, event_created) VALUES (?, ?, ?, ?)', [
      payout.id,
      status,
      event.id,
      event.created,
    ]);
    changed = true;
  } else if (event.created < Number(seen.event_created) || (event.created === Number(seen.event_created) && event.id < seen.event_id)) {
    // Two events describing one change (same time): the smaller id stands, whichever came first.
    await manager.query('UPDATE payout_status_history SET event_id = ?, event_created = ? WHERE payout_id = ? AND status = ?', [
      event.id,
      event.created,
      payout.id,
      status,
    ]);
    changed = true;
  }

  if (FETCH_TRIGGERS.has(event.type) && payout.automatic) {
    // A newer trigger asks again (reconciliation_completed after paid: Stripe's list is now final);
    // an older or repeated one does not, unless the last fetch failed for good: then replaying the
    // event (on-call, once Stripe answers again or the key is fixed) is how the fetch is retried.
    const requestedCreated = Number(current.items_requested_event_created);
    const newer = event.created > requestedCreated || (event.created === requestedCreated && event.id !== current.items_requested_event_id);
    if (newer || current.items_status === 'failed') {
      // Only a newer event becomes the one that asked: an older one retrying a failed fetch leaves it,
      // so a later trigger already seen is not taken for new.
      await manager.query(
        `UPDATE payouts SET items_requested_gen = items_requested_gen + 1, items_status = 'pending', items_error = NULL,
           items_requested_event_id = IF(?, ?, items_requested_event_id),
           items_requested_event_created = IF(?, ?, items_requested_event_created), items_requested_at = NOW(3)
         WHERE id = ?`,
        [newer, event.id, newer, event.created, payout.id],
      );
      changed = true;
    }
  } else if (FETCH_TRIGGERS.has(event.type)) {
    // Stripe lists transactions by payout only for automatic payouts: a manual one cannot be tied out here.
    const result = (await manager.query(
      `UPDATE payouts SET items_status = 'not_applicable' WHERE id = ? AND items_status = 'not_requested'`,
      [payout.id],
    )) as { affectedRows: number };
    if (result.affectedRows > 0) changed = true;
  }

  if (!changed) return { ignored: 'stale' };
  context.logger.info('payout updated', { payoutId: payout.id, status, eventType: event.type });
};
