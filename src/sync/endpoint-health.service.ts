import Stripe from 'stripe';
import type { ConnectionService } from '../stripe/connection.service.js';
import { createStripeClient, type StripeClientOptions } from '../stripe/stripe-client.js';
import { RESTRICTED_KEY_PERMISSIONS } from '../stripe/key-check.js';
import { AppError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AuditActor, AuditLog } from '../ops/audit-log.js';
import type { EndpointProblem, SyncState, SyncStateRow } from './sync-state.js';

/**
 * The account's webhook endpoint as last checked:
 * - `ok`: enabled, at this service's URL for the account, sending every handled type;
 * - `problems`: see `problems[]` (disabled, deleted, wrong_url, missing_event_types, check_failed);
 * - `unchecked`: not checked since it was connected (the next catch-up checks it);
 * - `not_watched`: no endpoint id is known (the merchant gave a signing secret without its
 *   webhookEndpointId, or nothing at all).
 */
export interface EndpointHealthView {
  status: 'ok' | 'problems' | 'unchecked' | 'not_watched';
  endpointId: string | null;
  /** true: created by this service; false: the merchant's own endpoint, named with webhookEndpointId. */
  managed: boolean | null;
  /** enabled | disabled | deleted, as Stripe last said; null when unknown. */
  stripeStatus: string | null;
  problems: EndpointProblem[];
  checkedAt: string | null;
}

export type RepairAction = 'none' | 'reenabled' | 'updated' | 'recreated';

export interface EndpointHealthDeps {
  connections: ConnectionService;
  syncState: SyncState;
  audit: AuditLog;
  logger: Logger;
  stripe: StripeClientOptions;
  subscribedTypes: readonly string[];
  now?: () => Date;
}

type Endpoint = Stripe.WebhookEndpoint;

const notFound = (error: unknown) => error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404;

/**
 * Endpoint health: an endpoint Stripe disabled (deliveries failing for days: Stripe emails the
 * merchant, who rarely reads it), deleted in the Dashboard, pointing elsewhere, or missing event
 * types delivers nothing; catch-up recovers the events, but the endpoint must be fixed. Checked
 * with each account's catch-up, shown on the connection, in /metrics and by the ops CLI, and
 * repaired in one call: re-enabled and set right, or recreated when gone.
 */
export function createEndpointHealth(deps: EndpointHealthDeps) {
  const now = deps.now ?? (() => new Date());

  /** What is wrong with the endpoint Stripe returned, or with its absence. */
  function problemsOf(accountId: string, endpoint: Endpoint | null): EndpointProblem[] {
    if (!endpoint) {
      return [{ code: 'deleted', message: 'Stripe has no such endpoint (deleted in the Dashboard?): no events are delivered. Repair recreates it.' }];
    }
    const problems: EndpointProblem[] = [];
    if (endpoint.status !== 'enabled') {
      problems.push({ code: 'disabled', message: `Stripe reports the endpoint ${endpoint.status} (it disables endpoints whose deliveries keep failing): no events are delivered. Repair re-enables it.` });
    }
    const expectedUrl = deps.connections.endpointUrl(accountId);
    if (expectedUrl && endpoint.url !== expectedUrl) {
      problems.push({ code: 'wrong_url', message: `The endpoint sends to ${endpoint.url}, not to ${expectedUrl} (PUBLIC_BASE_URL's route for this account). Repair points it here.` });
    }
    const enabled = new Set(endpoint.enabled_events);
    const missing = enabled.has('*') ? [] : deps.subscribedTypes.filter((type) => !enabled.has(type));
    if (missing.length > 0) {
      problems.push({ code: 'missing_event_types', message: `The endpoint does not send ${missing.join(', ')}. Repair adds them.` });
    }
    return problems;
  }

  const viewOf = (watched: { endpointId: string | null; managed: boolean }, row: SyncStateRow | undefined): EndpointHealthView => {
    if (!watched.endpointId) return { status: 'not_watched', endpointId: null, managed: null, stripeStatus: null, problems: [], checkedAt: null };
    // Health checked for another endpoint (before a reconnect) says nothing about this one.
    if (!row?.endpoint_checked_at || row.endpoint_id !== watched.endpointId) {
      return { status: 'unchecked', endpointId: watched.endpointId, managed: watched.managed, stripeStatus: null, problems: [], checkedAt: null };
    }
    const problems = JSON.parse(row.endpoint_problems ?? '[]') as EndpointProblem[];
    return {
      status: problems.length > 0 ? 'problems' : 'ok',
      endpointId: watched.endpointId,
      managed: watched.managed,
      stripeStatus: row.endpoint_stripe_status,
      problems,
      checkedAt: row.endpoint_checked_at.toISOString(),
    };
  };

  const stripeError = (error: unknown, doing: string) => {
    if (error instanceof AppError) return error;
    if (error instanceof Stripe.errors.StripeConnectionError) return new AppError(502, 'stripe_unreachable', `Stripe could not be reached to ${doing}. Try again in a minute.`);
    if (error instanceof Stripe.errors.StripePermissionError) {
      return new AppError(400, 'key_missing_permissions', `The account's key may not ${doing}. Give it: ${RESTRICTED_KEY_PERMISSIONS}.`);
    }
    if (error instanceof Stripe.errors.StripeAuthenticationError) {
      return new AppError(409, 'invalid_api_key', 'Stripe rejects the account\'s stored key (revoked or rolled): connect the current key (PUT /api/accounts/:id/stripe).');
    }
    if (error instanceof Stripe.errors.StripeError) return new AppError(502, 'stripe_error', `Stripe would not ${doing} (${error.message}).`);
    return error;
  };

  async function watched(accountId: string) {
    const endpoint = await deps.connections.watchedEndpoint(accountId);
    if (!endpoint) throw new AppError(404, 'stripe_not_connected', `Account ${accountId} has not connected Stripe: PUT /api/accounts/${accountId}/stripe with its secret key.`);
    return endpoint;
  }

  /** The endpoint as Stripe has it now; null when Stripe has none by that id. */
  async function retrieve(key: string, endpointId: string): Promise<Endpoint | null> {
    try {
      return await createStripeClient(key, deps.stripe).webhookEndpoints.retrieve(endpointId);
    } catch (error) {
      if (notFound(error)) return null;
      throw error;
    }
  }

  async function record(accountId: string, endpointId: string, endpoint: Endpoint | null | undefined, problems: EndpointProblem[]): Promise<void> {
    const stripeStatus = endpoint === undefined ? null : endpoint === null ? 'deleted' : endpoint.status;
    await deps.syncState.recordEndpointHealth(accountId, { endpointId, stripeStatus, problems, checkedAt: now() });
  }

  /** Asks Stripe, records and returns the health. Never throws for Stripe's answer: a failed check is a problem of its own. */
  async function check(accountId: string): Promise<EndpointHealthView> {
    const endpoint = await watched(accountId);
    if (!endpoint.endpointId) return viewOf(endpoint, undefined);
    try {
      const found = await retrieve(endpoint.key, endpoint.endpointId);
      await record(accountId, endpoint.endpointId, found, problemsOf(accountId, found));
    } catch (error) {
      const message = stripeError(error, 'read the webhook endpoint');
      deps.logger.warn('webhook endpoint check failed', { accountId, endpointId: endpoint.endpointId, error: describeError(error) });
      await record(accountId, endpoint.endpointId, undefined, [
        { code: 'check_failed', message: message instanceof Error ? message.message : describeError(error) },
      ]);
    }
    return viewOf(endpoint, await deps.syncState.get(accountId));
  }

  return {
    check,

    /** The health as last checked, without asking Stripe (GET /api/accounts/:id/stripe). */
    async view(accountId: string): Promise<EndpointHealthView> {
      const endpoint = await deps.connections.watchedEndpoint(accountId).catch((error: unknown) => {
        // A refused key (sealed for another account) says nothing about the endpoint; the connection's own answer says why.
        if (error instanceof AppError && error.code === 'stripe_connection_unusable') return null;
        throw error;
      });
      if (!endpoint) return { status: 'not_watched', endpointId: null, managed: null, stripeStatus: null, problems: [], checkedAt: null };
      return viewOf(endpoint, await deps.syncState.get(accountId));
    },

    /**
     * One call to get deliveries flowing again: an endpoint Stripe no longer has is recreated (a new
     * signing secret, stored sealed; the endpoint id changes), one that is disabled, elsewhere or
     * short of types is re-enabled and set right (URL and every handled type, its other types kept).
     * Audited; answers what it did and the health checked afterwards.
     */
    async repair(accountId: string, actor: AuditActor): Promise<{ action: RepairAction; previousEndpointId: string | null; webhookEndpoint: EndpointHealthView; auditId: number }> {
      const endpoint = await watched(accountId);
      if (!endpoint.endpointId) {
        throw new AppError(
          409,
          'endpoint_not_watched',
          `No webhook endpoint is known for account ${accountId}: it was connected with a signing secret only. PUT /api/accounts/${accountId}/stripe with webhookSecret and webhookEndpointId (we_…) so it can be checked and repaired, or without webhookSecret so the service makes its own endpoint.`,
        );
      }
      let action: RepairAction = 'none';
      let found: Endpoint | null;
      try {
        found = await retrieve(endpoint.key, endpoint.endpointId);
      } catch (error) {
        throw stripeError(error, 'read the webhook endpoint');
      }
      const before = problemsOf(accountId, found);
      if (!found) {
        try {
          await deps.connections.recreateEndpoint(accountId);
        } catch (error) {
          throw stripeError(error, 'create the webhook endpoint');
        }
        action = 'recreated';
      } else if (before.length > 0) {
        const url = deps.connections.endpointUrl(accountId);
        const enabled = found.enabled_events.includes('*') ? found.enabled_events : [...new Set([...found.enabled_events, ...deps.subscribedTypes])];
        try {
          await createStripeClient(endpoint.key, deps.stripe).webhookEndpoints.update(found.id, {
            disabled: false,
            ...(url ? { url } : {}),
            enabled_events: enabled as Stripe.WebhookEndpointUpdateParams.EnabledEvent[],
          });
        } catch (error) {
          throw stripeError(error, 'update the webhook endpoint');
        }
        action = before.every((p) => p.code === 'disabled') ? 'reenabled' : 'updated';
      }
      const health = await check(accountId);
      const auditId = await deps.audit.record({
        actor,
        action: 'webhook_endpoint.repair',
        target: accountId,
        details: { action, endpointId: health.endpointId, previousEndpointId: endpoint.endpointId, problemsBefore: before.map((p) => p.code) },
      });
      deps.logger.info('webhook endpoint repaired', { accountId, action, endpointId: health.endpointId, previousEndpointId: endpoint.endpointId });
      return { action, previousEndpointId: endpoint.endpointId, webhookEndpoint: health, auditId };
    },
  };
}

export type EndpointHealth = ReturnType<typeof createEndpointHealth>;
