import { AppError } from '../shared/errors.js';
import { PAYPAL_EVENT_TYPES } from './event-types.js';
import { PaypalApiError, paypalRequest, type PaypalApiOptions, type PaypalMode } from './paypal-client.js';
import { unreachableOr } from './paypal-credentials.js';

/**
 * The webhook a connection makes in the merchant's PayPal app (PayPal's Webhooks Management API,
 * /v1/notifications/webhooks: not in the server SDK, so plain fetch with the SDK's token). PayPal
 * keeps one webhook per URL per app and ten per app; the URL names the account, so a webhook at
 * it is this service's own: reused (its event types brought up to date) rather than made twice.
 */

interface PaypalWebhook {
  id: string;
  url: string;
  event_types?: { name: string }[];
}

export const webhookUrlFor = (publicBaseUrl: string, accountId: string) => `${publicBaseUrl.replace(/\/$/, '')}/webhooks/paypal/${accountId}`;

const sameTypes = (webhook: PaypalWebhook) => {
  const names = new Set((webhook.event_types ?? []).map((t) => t.name));
  return names.size === PAYPAL_EVENT_TYPES.length && PAYPAL_EVENT_TYPES.every((type) => names.has(type));
};

function webhookError(error: unknown): unknown {
  if (!(error instanceof PaypalApiError)) return error;
  if (error.paypalName === 'WEBHOOK_NUMBER_LIMIT_EXCEEDED') {
    return new AppError(
      502,
      'paypal_error',
      'PayPal did not create the webhook: the app already has its 10 webhooks, PayPal\'s limit. Delete unused ones (developer.paypal.com > Apps & Credentials > your app > Webhooks), then connect again; nothing was saved.',
      { paypalError: error.paypalName },
    );
  }
  return unreachableOr(error, 'create the webhook (fix what it names, e.g. PUBLIC_BASE_URL must be https)');
}

export function paypalWebhooks(api: PaypalApiOptions) {
  const list = async (mode: PaypalMode, token: string) => (await paypalRequest<{ webhooks?: PaypalWebhook[] }>(mode, token, 'GET', '/v1/notifications/webhooks', undefined, api)).webhooks ?? [];

  return {
    /**
     * The app's webhook at `url` for the handled event types: the one already there (its types
     * replaced if they differ), or a new one. `created` says which, so a failed save can delete it.
     */
    async ensure(mode: PaypalMode, token: string, url: string): Promise<{ id: string; created: boolean }> {
      try {
        for (let attempt = 0; ; attempt += 1) {
          const existing = (await list(mode, token)).find((webhook) => webhook.url === url);
          if (existing) {
            if (!sameTypes(existing)) {
              await paypalRequest(mode, token, 'PATCH', `/v1/notifications/webhooks/${encodeURIComponent(existing.id)}`, [{ op: 'replace', path: '/event_types', value: PAYPAL_EVENT_TYPES.map((name) => ({ name })) }], api);
            }
            return { id: existing.id, created: false };
          }
          try {
            const webhook = await paypalRequest<PaypalWebhook>(mode, token, 'POST', '/v1/notifications/webhooks', { url, event_types: PAYPAL_EVENT_TYPES.map((name) => ({ name })) }, api);
            return { id: webhook.id, created: true };
          } catch (error) {
            // Another connect of this account made it between the list and the create: take that one.
            if (error instanceof PaypalApiError && error.paypalName === 'WEBHOOK_URL_ALREADY_EXISTS' && attempt === 0) continue;
            throw error;
          }
        }
      } catch (error) {
        throw webhookError(error);
      }
    },

    /** Deletes a webhook this service made; one PayPal no longer has counts as deleted. */
    async remove(mode: PaypalMode, token: string, webhookId: string): Promise<void> {
      try {
        await paypalRequest(mode, token, 'DELETE', `/v1/notifications/webhooks/${encodeURIComponent(webhookId)}`, undefined, api);
      } catch (error) {
        if (error instanceof PaypalApiError && error.status === 404) return;
        throw error;
      }
    },
  };
}

export type PaypalWebhooks = ReturnType<typeof paypalWebhooks>;
