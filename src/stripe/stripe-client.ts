import Stripe from 'stripe';

export interface StripeClientOptions {
  /** e.g. http://127.0.0.1:12111 for stripe-mock or the tests' fake Stripe API. */
  apiBase?: string;
  timeoutMs?: number;
  maxNetworkRetries?: number;
  /** E.g. the catch-up's paced client (throttled-http-client.ts); stripe-node's own by default. */
  httpClient?: Stripe.HttpClient;
}

/** A stripe-node client for one API key, pointed at STRIPE_API_BASE when set. */
export function createStripeClient(apiKey: string, options: StripeClientOptions = {}): Stripe {
  const base = options.apiBase ? new URL(options.apiBase) : undefined;
  return new Stripe(apiKey, {
    timeout: options.timeoutMs ?? 10_000,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    appInfo: { name: 'billed-payments' },
    ...(options.httpClient && { httpClient: options.httpClient }),
    ...(base && {
      host: base.hostname,
      port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
      protocol: base.protocol.replace(':', '') as 'http' | 'https',
    }),
  });
}
