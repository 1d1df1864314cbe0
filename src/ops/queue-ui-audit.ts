import type { RequestHandler } from 'express';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AuditLog } from './audit-log.js';
import { queueActionOf, type QueueAction } from './queue-ui-actions.js';

/** What bull-board's answer adds to the record: the id of an added job, how many a Retry all retried. */
function fromAnswer(action: QueueAction, body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object') return {};
  const answer = body as { job?: { id?: unknown }; retried?: unknown; skipped?: unknown };
  if (action.name === 'add' && answer.job?.id !== undefined) return { jobId: String(answer.job.id) };
  if (action.name === 'retry_all') return { retried: answer.retried ?? null, skipped: answer.skipped ?? null };
  return {};
}

/**
 * Writes every change made through the queue UI to the audit log once it has succeeded:
 * `queue_ui.<action>` by the token's principal, the queue and job as target, and what changed
 * (job ids, counts, the size and key names of job data: never its values).
 */
export function auditQueueChanges(deps: { audit: AuditLog; logger: Logger }): RequestHandler {
  return (req, res, next) => {
    const action = queueActionOf(res);
    if (!action || req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    let answer: unknown;
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      answer = body;
      return json(body);
    };
    res.on('finish', () => {
      if (res.statusCode >= 400 || !req.principal) return;
      const { queueName, jobId, queueStatus, schedulerId } = action.params;
      const body = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
      const details: Record<string, unknown> = {
        queue: queueName ?? null,
        ...(jobId === undefined ? {} : { jobId }),
        ...(queueStatus === undefined ? {} : { status: queueStatus }),
        ...(schedulerId === undefined ? {} : { schedulerId }),
        ...(action.changes?.(body) ?? {}),
        ...fromAnswer(action, answer),
        ...(res.locals.queueUiOutcome as Record<string, unknown> | undefined),
        ...(action.name === 'other' ? { route: action.route } : {}),
      };
      const target = [queueName ?? 'all queues', jobId ?? schedulerId].filter(Boolean).join('/');
      deps.audit
        .record({ actor: req.principal, action: `queue_ui.${action.name}`, target: target.slice(0, 255), details })
        .catch((error: unknown) => deps.logger.error('could not audit a queue UI change', { action: action.name, error: describeError(error) }));
    });
    next();
  };
}
