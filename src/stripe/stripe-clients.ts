import type Stripe from 'stripe';
import { AppError } from '../shared/errors.js';
import { createStripeClient, type StripeClientOptions } from './stripe-client.js';

/**
 * The Stripe API client of an account: `null` is the default account
 * (STRIPE_SECRET_KEY); a merchant account uses the key it connected.
 */
export interface StripeClients {
  forAccount(accountId: string | null): Promise<Stripe>;
  /** The account's key itself, for a client of other settings (the catch-up's paced one); 409 stripe_not_connected without one. */
  apiKey(accountId: string | null): Promise<string>;
}

export type AccountKeyLookup = (accountId: string) => Promise<string | null>;

export function createStripeClients(options: StripeClientOptions & { defaultKey?: string; accountKey: AccountKeyLookup }): StripeClients {
  const cache = new Map<string, Stripe>();
  const clientFor = (key: string) => {
    let client = cache.get(key);
    if (!client) cache.set(key, (client = createStripeClient(key, options)));
    return client;
  };
  async function apiKey(accountId: string | null): Promise<string> {
    const key = accountId === null ? options.defaultKey : await options.accountKey(accountId);
    if (!key) {
      throw new AppError(
        409,
        'stripe_not_connected',
        accountId === null
          ? 'The default account has no Stripe key: set STRIPE_SECRET_KEY.'
          : `Account ${accountId} has not connected Stripe: PUT /api/accounts/${accountId}/stripe with its secret key.`,
      );
    }
    return key;
  }
  return {
    apiKey,
    async forAccount(accountId) {
      return clientFor(await apiKey(accountId));
    },
  };
}
