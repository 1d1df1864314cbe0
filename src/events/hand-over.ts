import type { DataSource } from 'typeorm';
import type { EventPublisher, QueuedEvent } from './event-publisher.js';
import { accountScope } from '../shared/account-scope.js';

const rowKey = (id: string, scope: string) => `${scope}\u0000${id}`;

/**
 * What a batch job does with the events it could not settle (workers/event.worker.ts): each goes
 * in a job of its own on the batch's queue. Only events still `received`: one that another run
 * settled meanwhile (its own job's last try failed it, say) keeps its finished job as it is, so a
 * failed job on-call should see is not swapped for a fresh one that finds nothing to do.
 */
export function createHandOver(deps: { dataSource: DataSource; publisher: EventPublisher }) {
  return async (queue: string, events: QueuedEvent[]): Promise<void> => {
    if (events.length === 0) return;
    const open: { id: string; account_scope: string }[] = await deps.dataSource.query(
      "SELECT id, account_scope FROM stripe_events WHERE (id, account_scope) IN (?) AND status = 'received'",
      [events.map((event) => [event.id, accountScope(event.accountId)])],
    );
    const keys = new Set(open.map((row) => rowKey(row.id, row.account_scope)));
    await deps.publisher.handOver(queue, events.filter((event) => keys.has(rowKey(event.id, accountScope(event.accountId)))));
  };
}
