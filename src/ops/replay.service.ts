import type { DataSource } from 'typeorm';
import type { EventPublisher } from '../events/event-publisher.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AuditActor, AuditLog } from './audit-log.js';
import { filterSql, type ReplayFilter } from './event-query.schema.js';
import { chooseCopy, type AccountChoice } from './event-copies.js';
import { routingKeyOfPayload } from '../events/routing-key.js';

export interface ReplayDeps {
  dataSource: DataSource;
  publisher: Pick<EventPublisher, 'requeue'>;
  audit: AuditLog;
  logger: Logger;
  /** Events per keyset page: one SELECT, one UPDATE, one queue add per shard and one INSERT each. */
  batchSize?: number;
}

interface Row {
  id: string;
  accountId: string | null;
  account_scope: string;
  type: string;
  /** For the event's queue shard (the payment it is about picks it). */
  payload: string;
  received_at: Date;
}

const ROW_COLUMNS = 'id, account_id AS accountId, account_scope, type, payload, received_at';

/**
 * Replay runs stored events through their handlers again. It is safe by
 * construction: handlers are idempotent, so a replayed processed event changes
 * nothing. A settled event is not run twice by the processor, so replay first
 * puts the record back to `received` (attempts and their history are kept),
 * then enqueues it from the stored event: the original job may be long gone.
 */
export function createReplayService(deps: ReplayDeps) {
  const batchSize = deps.batchSize ?? 1000;
  const { dataSource } = deps;

  /** Redis down: the events are `received` in the inbox, and the relay enqueues them once it is back. */
  async function enqueue(events: Row[]): Promise<boolean> {
    try {
      await deps.publisher.requeue(events.map((row) => ({ id: row.id, accountId: row.accountId, type: row.type, routingKey: routingKeyOfPayload(row.payload) })));
      return true;
    } catch (error) {
      deps.logger.warn('replay could not reach the queue; the relay will enqueue the events', {
        error: describeError(error),
        events: events.length,
      });
      return false;
    }
  }

  /**
   * One stored event. An id stored for several accounts (delivered to several endpoints) needs
   * `account` to say which copy: without it, 409 event_ambiguous naming them. `onlyAccount` (a token
   * confined to one merchant account, here and in replayMatching): other accounts' copies do not exist.
   */
  async function replayOne(eventId: string, actor: AuditActor, account?: AccountChoice, onlyAccount?: string) {
    const copies = (await dataSource.query(`SELECT ${ROW_COLUMNS}, status FROM stripe_events WHERE id = ? AND (? IS NULL OR account_scope = ?) ORDER BY account_scope`, [
      eventId,
      onlyAccount ?? null,
      onlyAccount ?? null,
    ])) as (Row & {
      status: string;
    })[];
    const row = chooseCopy(eventId, account, copies, (copy) => copy.accountId, 'Only stored events can be replayed; check the id (evt_...).');
    await dataSource.query("UPDATE stripe_events SET status = 'received', reason = NULL WHERE id = ? AND account_scope = ?", [eventId, row.account_scope]);
    const queued = await enqueue([row]);
    const auditId = await deps.audit.record({
      actor,
      action: 'event.replay',
      target: eventId,
      count: 1,
      details: { previousStatus: row.status, type: row.type, queued, accountId: row.accountId },
    });
    await dataSource.query('INSERT IGNORE INTO event_replays (event_id, account_scope, audit_id) VALUES (?, ?, ?)', [eventId, row.account_scope, auditId]);
    return { eventId, accountId: row.accountId, previousStatus: row.status, status: 'received', queued, auditId };
  }

  /**
   * Bulk replay, in keyset pages over (received_at, id), which
   * idx_stripe_events_status_received serves in order: memory stays at one
   * page however many events match. `until` defaults to now, so events that
   * arrive during a long replay are not chased.
   */
  async function replayMatching(filter: ReplayFilter, actor: AuditActor, onlyAccount?: string) {
    const bounded = { ...filter, until: filter.until ?? new Date() };
    const { where, params } = filterSql(bounded, onlyAccount);
    const [{ n }] = (await dataSource.query(`SELECT COUNT(*) AS n FROM stripe_events WHERE ${where.join(' AND ')}`, params)) as [
      { n: number | string },
    ];
    const matched = Number(n);
    const describe = {
      status: filter.status,
      type: filter.type ?? null,
      since: filter.since?.toISOString() ?? null,
      until: bounded.until.toISOString(),
      ...(filter.accountId === undefined ? {} : { accountId: filter.accountId ?? 'default' }),
      ...(onlyAccount ? { onlyAccount } : {}),
    };
    if (filter.dryRun || matched === 0) return { matched, enqueued: 0, dryRun: filter.dryRun, auditId: null };

    // Written first, completed at the end: a replay cut short still shows who started it and on what.
    const auditId = await deps.audit.record({ actor, action: 'events.replay', count: 0, details: { filter: describe, matched, state: 'running' } });
    let enqueued = 0;
    let reset = 0;
    let queueReachable = true;
    // Keyset over the whole key: copies of one event for two accounts can share (received_at, id).
    let after: { at: Date; id: string; scope: string } | undefined;
    try {
      for (;;) {
        // MariaDB ranges over `received_at >= ?`, not over a row comparison; the latter only drops the page's first rows.
        const page = after ? ['received_at >= ?', '(received_at, id, account_scope) > (?, ?, ?)'] : [];
        const pageParams = after ? [after.at, after.at, after.id, after.scope] : [];
        const batch = (await dataSource.query(
          `SELECT ${ROW_COLUMNS} FROM stripe_events WHERE ${[...where, ...page].join(' AND ')} ORDER BY received_at, id, account_scope LIMIT ?`,
          [...params, ...pageParams, batchSize],
        )) as Row[];
        if (batch.length === 0) break;
        const keys = batch.map((row) => [row.id, row.account_scope]);
        // Only rows still in the chosen status: one settled meanwhile by someone else is left alone.
        const result = (await dataSource.query("UPDATE stripe_events SET status = 'received', reason = NULL WHERE (id, account_scope) IN (?) AND status = ?", [
          keys,
          filter.status,
        ])) as { affectedRows?: number };
        reset += Number(result.affectedRows ?? 0);
        if (queueReachable) queueReachable = await enqueue(batch);
        if (queueReachable) enqueued += batch.length;
        await dataSource.query(
          `INSERT IGNORE INTO event_replays (event_id, account_scope, audit_id) VALUES ${keys.map(() => '(?, ?, ?)').join(', ')}`,
          keys.flatMap(([id, scope]) => [id, scope, auditId]),
        );
        const last = batch[batch.length - 1]!;
        after = { at: last.received_at, id: last.id, scope: last.account_scope };
        if (batch.length < batchSize) break;
      }
    } finally {
      await deps.audit
        .complete(auditId, enqueued, { filter: describe, matched, reset, enqueued, state: queueReachable ? 'done' : 'queue_unreachable' })
        .catch((error: unknown) => deps.logger.error('could not complete the audit entry', { auditId, error: describeError(error) }));
    }
    deps.logger.info('bulk replay', { auditId, matched, enqueued, filter: describe });
    return { matched, enqueued, dryRun: false, auditId, ...(queueReachable ? {} : { queued: false }) };
  }

  return { replayOne, replayMatching };
}

export type ReplayService = ReturnType<typeof createReplayService>;
