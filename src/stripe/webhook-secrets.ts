import { AppError, echo } from '../shared/errors.js';

/**
 * Which signing secrets verify a delivery. `null` is the default account
 * (STRIPE_WEBHOOK_SECRET); a merchant account id resolves to that account's
 * secrets, or 404 account_not_found.
 */
export type WebhookSecretResolver = (accountId: string | null) => Promise<readonly string[]>;

export interface AccountSecretsLookup {
  /** null: no such account; []: the account exists but has no signing secret. */
  (accountId: string): Promise<string[] | null>;
}

/** The shape of the ids POST /api/accounts hands out. */
const ACCOUNT_ID = /^ma_[0-9a-f]{20}$/;

const notConfigured = (what: string) =>
  // Not stored, so not 2xx: Stripe keeps retrying (for up to 3 days) until the secret is configured.
  new AppError(503, 'webhook_not_configured', what);

/**
 * Account secrets are looked up on the request path, so they are cached for a
 * couple of seconds: a rolled secret takes effect within `cacheMs`.
 */
export function createSecretResolver(options: {
  envSecrets: readonly string[];
  accountSecrets?: AccountSecretsLookup;
  cacheMs?: number;
  now?: () => Date;
}): WebhookSecretResolver {
  const cacheMs = options.cacheMs ?? 2000;
  const nowMs = () => (options.now ? options.now().getTime() : Date.now());
  const cache = new Map<string, { at: number; secrets: string[] | null }>();
  return async (accountId) => {
    if (accountId === null) {
      if (options.envSecrets.length === 0) throw notConfigured('Set STRIPE_WEBHOOK_SECRET to the endpoint\'s whsec_ signing secret and restart.');
      return options.envSecrets;
    }
    // Checked before any lookup or caching: the id comes from an unauthenticated URL.
    if (!ACCOUNT_ID.test(accountId)) {
      throw new AppError(404, 'account_not_found', `No merchant account "${echo(accountId)}": check the webhook endpoint URL in the Stripe Dashboard.`);
    }
    let entry = cache.get(accountId);
    if (!entry || nowMs() - entry.at > cacheMs) {
      let secrets: string[] | null;
      try {
        secrets = options.accountSecrets ? await options.accountSecrets(accountId) : null;
      } catch {
        // Nothing is stored yet either: 503 makes Stripe retry.
        throw new AppError(503, 'storage_unavailable', 'The account\'s signing secrets could not be read; nothing was stored. Stripe retries automatically; on-call: check MySQL.');
      }
      entry = { at: nowMs(), secrets };
      cache.set(accountId, entry);
      if (cache.size > 10_000) cache.clear();
    }
    if (entry.secrets === null) {
      throw new AppError(404, 'account_not_found', `No merchant account "${echo(accountId)}": check the webhook endpoint URL in the Stripe Dashboard.`);
    }
    if (entry.secrets.length === 0) {
      throw notConfigured(`Account ${accountId} has no webhook signing secret: reconnect Stripe with PUBLIC_BASE_URL set, or with webhookSecret.`);
    }
    return entry.secrets;
  };
}
