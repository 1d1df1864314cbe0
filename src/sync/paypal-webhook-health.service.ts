import { PAYPAL_EVENT_TYPES } from '../paypal/event-types.js';
import { PaypalApiError, paypalRequest, requestAccessToken, type PaypalApiOptions } from '../paypal/paypal-client.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { EndpointHealthView } from './endpoint-health.service.js';
import type { EndpointProblem, SyncState } from './sync-state.js';

export interface PaypalWebhookHealthDeps {
  paypalConnections: Pick<PaypalConnectionService, 'get' | 'credentials'>;
  /** The sync state of gateway 'paypal'. */
  syncState: SyncState;
  logger: Logger;
  /** PAYPAL_API_BASE. */
  api: PaypalApiOptions;
  now?: () => Date;
}

interface PaypalWebhook {
  id: string;
  url: string;
  event_types?: { name: string }[];
}

const FIX = 'Connect PayPal again with the same app (PUT /api/accounts/:id/paypal): the service makes its webhook again, at its URL, for every handled type.';

/**
 * The account's PayPal webhook, checked with each PayPal catch-up as Stripe's endpoint is: one
 * deleted in the app, pointing elsewhere, or short of handled types delivers nothing (the catch-up
 * recovers the events, but the webhook must be fixed). Shown in the ops status (`webhookEndpoint`
 * of the PayPal row), the job's summary and /metrics (`billed_webhook_endpoint_problems{gateway="paypal"}`).
 * There is no repair call: connecting again remakes the webhook.
 */
export function createPaypalWebhookHealth(deps: PaypalWebhookHealthDeps) {
  const now = deps.now ?? (() => new Date());

  function problemsOf(expectedUrl: string | null, webhook: PaypalWebhook): EndpointProblem[] {
    const problems: EndpointProblem[] = [];
    if (expectedUrl && webhook.url !== expectedUrl) {
      problems.push({ code: 'wrong_url', message: `The PayPal webhook sends to ${webhook.url}, not to ${expectedUrl}. ${FIX}` });
    }
    const names = new Set((webhook.event_types ?? []).map((type) => type.name));
    const missing = names.has('*') ? [] : PAYPAL_EVENT_TYPES.filter((type) => !names.has(type));
    if (missing.length > 0) problems.push({ code: 'missing_event_types', message: `The PayPal webhook does not send ${missing.join(', ')}. ${FIX}` });
    return problems;
  }

  async function view(accountId: string): Promise<EndpointHealthView> {
    const connection = await deps.paypalConnections.get(accountId);
    if (!connection.webhookId) return { status: 'not_watched', endpointId: null, managed: null, stripeStatus: null, problems: [], checkedAt: null };
    const row = await deps.syncState.get(accountId);
    // Health checked for another webhook (before a reconnect) says nothing about this one.
    if (!row?.endpoint_checked_at || row.endpoint_id !== connection.webhookId) {
      return { status: 'unchecked', endpointId: connection.webhookId, managed: true, stripeStatus: null, problems: [], checkedAt: null };
    }
    const problems = JSON.parse(row.endpoint_problems ?? '[]') as EndpointProblem[];
    return { status: problems.length > 0 ? 'problems' : 'ok', endpointId: connection.webhookId, managed: true, stripeStatus: null, problems, checkedAt: row.endpoint_checked_at.toISOString() };
  }

  return {
    view,

    /** Reads the webhook from PayPal and records what is wrong with it; a PayPal that cannot be asked is a `check_failed` problem. */
    async check(accountId: string): Promise<EndpointHealthView> {
      const connection = await deps.paypalConnections.get(accountId);
      if (!connection.webhookId) return view(accountId);
      let problems: EndpointProblem[];
      try {
        const credentials = await deps.paypalConnections.credentials(accountId);
        if (!credentials) return view(accountId);
        const token = await requestAccessToken(credentials, credentials.mode, deps.api);
        const webhook = await paypalRequest<PaypalWebhook>(credentials.mode, token.accessToken, 'GET', `/v1/notifications/webhooks/${encodeURIComponent(connection.webhookId)}`, undefined, deps.api);
        problems = problemsOf(connection.webhookUrl, webhook);
      } catch (error) {
        if (error instanceof PaypalApiError && error.status === 404) {
          problems = [{ code: 'deleted', message: `PayPal has no webhook ${connection.webhookId} (deleted in the app?): no events are delivered. ${FIX}` }];
        } else {
          const why = error instanceof PaypalApiError ? `${error.status ?? 'no answer'} ${error.paypalName}` : describeError(error);
          problems = [{ code: 'check_failed', message: `PayPal could not be asked about the webhook (${why}): check the connection (GET /api/accounts/:id/paypal).` }];
        }
      }
      await deps.syncState.recordEndpointHealth(accountId, { endpointId: connection.webhookId, stripeStatus: null, problems, checkedAt: now() });
      if (problems.length > 0) deps.logger.warn('PayPal webhook has problems', { accountId, webhookId: connection.webhookId, problems: problems.map((p) => p.code) });
      return view(accountId);
    },
  };
}

export type PaypalWebhookHealth = ReturnType<typeof createPaypalWebhookHealth>;
