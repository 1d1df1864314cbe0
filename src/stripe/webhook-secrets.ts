import { AppError } from '../shared/errors';

/**
 * Which signing secrets verify a delivery. `null` is the default account
 * (STRIPE_WEBHOOK_SECRET); a merchant account id resolves to that account's
 * secrets, or 404 account_not_found.
 */
export type WebhookSecretResolver = (accountId: string | null) => Promise<readonly string[]>;

export function defaultAccountSecrets(envSecrets: readonly string[]): WebhookSecretResolver {
  return async (accountId) => {
    if (accountId !== null) {
      throw new AppError(404, 'account_not_found', `No merchant account "${accountId}": check the webhook endpoint URL in the Stripe Dashboard.`);
    }
    if (envSecrets.length === 0) {
      // Not stored, so not 2xx: Stripe keeps retrying until the secret is configured.
      throw new AppError(503, 'webhook_not_configured', 'Set STRIPE_WEBHOOK_SECRET to the endpoint\'s whsec_ signing secret and restart.');
    }
    return envSecrets;
  };
}
