import type { DataSource, EntityManager } from 'typeorm';
import { z } from 'zod';
import { AppError } from '../shared/errors.js';
import { currentContext } from '../shared/context.js';
import { parseInstant } from './time-range.js';

/** Who did it: a token's principal, or `system` for scheduled work such as retention. */
export interface AuditActor {
  id: string;
  name: string;
  role: string;
}

export const SYSTEM_ACTOR: AuditActor = { id: 'system', name: 'system', role: 'system' };

export interface AuditEntry {
  actor: AuditActor;
  /** dotted verb, e.g. `event.replay`, `events.replay`, `token.create`, `events.purge`. */
  action: string;
  target?: string | null;
  count?: number | null;
  details?: Record<string, unknown>;
}

interface AuditRow {
  id: string;
  at: Date;
  actor_id: string;
  actor_name: string;
  actor_role: string;
  action: string;
  target: string | null;
  count: number | null;
  details: string | null;
  request_id: string | null;
}

const listSchema = z.object({
  action: z.string().regex(/^[a-z_.]{1,64}$/).optional(),
  actor: z.string().min(1).max(100).optional(),
  target: z.string().min(1).max(255).optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^\d+$/).optional(),
});

export function parseAuditQuery(query: unknown) {
  const result = listSchema.safeParse(query);
  if (!result.success) {
    const field = String(result.error.issues[0]?.path[0] ?? 'query');
    throw new AppError(400, `invalid_${field}`, `Bad query parameter ${field}: action is like event.replay; limit is 1–500; cursor comes from nextCursor.`, { field });
  }
  const q = result.data;
  return {
    ...q,
    since: q.since ? parseInstant(q.since, 'since') : undefined,
    until: q.until ? parseInstant(q.until, 'until') : undefined,
  };
}

export const auditView = (row: AuditRow) => ({
  id: Number(row.id),
  at: row.at.toISOString(),
  actor: { id: row.actor_id, name: row.actor_name, role: row.actor_role },
  action: row.action,
  target: row.target,
  count: row.count === null ? null : Number(row.count),
  details: row.details ? (JSON.parse(row.details) as unknown) : null,
  requestId: row.request_id,
});

/** Append-mostly record of operator and admin actions (a bulk replay fills in its count when done). */
export function createAuditLog(dataSource: DataSource) {
  async function record(entry: AuditEntry, manager?: EntityManager): Promise<number> {
    const result = (await (manager ?? dataSource).query(
      `INSERT INTO audit_log (actor_id, actor_name, actor_role, action, target, count, details, request_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        entry.actor.id,
        entry.actor.name,
        entry.actor.role,
        entry.action,
        entry.target ?? null,
        entry.count ?? null,
        entry.details ? JSON.stringify(entry.details) : null,
        currentContext()?.requestId ?? null,
      ],
    )) as { insertId: number };
    return Number(result.insertId);
  }

  /** Completes an entry written when a long action started: how many, and how it ended. */
  async function complete(id: number, count: number, details: Record<string, unknown>): Promise<void> {
    await dataSource.query('UPDATE audit_log SET count = ?, details = ? WHERE id = ?', [count, JSON.stringify(details), id]);
  }

  async function list(query: ReturnType<typeof parseAuditQuery>) {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, ...values: unknown[]) => {
      where.push(sql);
      params.push(...values);
    };
    if (query.action) add('action = ?', query.action);
    if (query.actor) add('(actor_name = ? OR actor_id = ?)', query.actor, query.actor);
    if (query.target) add('target = ?', query.target);
    if (query.since) add('at >= ?', query.since);
    if (query.until) add('at < ?', query.until);
    if (query.cursor) add('id < ?', query.cursor);
    const rows = (await dataSource.query(
      `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      [...params, query.limit + 1],
    )) as AuditRow[];
    const page = rows.slice(0, query.limit);
    return { data: page.map(auditView), nextCursor: rows.length > query.limit ? String(page[page.length - 1]!.id) : null };
  }

  return { record, complete, list };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
