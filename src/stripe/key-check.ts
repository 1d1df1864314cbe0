import { AppError } from '../shared/errors.js';

export interface CheckedKey {
  key: string;
  mode: 'live' | 'test';
  restricted: boolean;
  last4: string;
}

/**
 * The first check of a pasted key, before Stripe is asked: trimmed (pasting
 * picks up spaces and newlines), then recognised by prefix. Each mistake the
 * help page warns about gets its own code and says what to paste instead.
 */
export function checkSecretKey(input: unknown): CheckedKey {
  const key = typeof input === 'string' ? input.trim() : '';
  if (!key) {
    throw new AppError(400, 'key_missing', 'Paste your Stripe secret key (Developers > API keys > Secret key, starts with sk_live_ or sk_test_).');
  }
  if (/^pk_(live|test)_/.test(key)) {
    throw new AppError(400, 'publishable_key', 'This is the publishable key (pk_…). Paste the secret key instead: Developers > API keys > Secret key, starting with sk_live_ or sk_test_.');
  }
  if (key.startsWith('whsec_')) {
    throw new AppError(400, 'webhook_secret_as_key', 'This is a webhook signing secret (whsec_…), not an API key. Paste the secret key (sk_live_ or sk_test_) here; the signing secret goes in webhookSecret.');
  }
  // Stripe's keys are about 100 characters; 255 bounds what is sent to Stripe and stored.
  const match = /^(sk|rk)_(live|test)_([0-9A-Za-z]{8,247})$/.exec(key);
  if (!match) {
    throw new AppError(400, 'invalid_key_format', 'This does not look like a Stripe secret key: it should start with sk_live_, sk_test_ (or rk_ for a restricted key) followed by letters and digits, copied whole.');
  }
  return { key, mode: match[2] as 'live' | 'test', restricted: match[1] === 'rk', last4: key.slice(-4) };
}

export function checkWebhookSecret(input: unknown): string | undefined {
  if (input === undefined || input === null || (typeof input === 'string' && input.trim() === '')) return undefined;
  const secret = typeof input === 'string' ? input.trim() : '';
  if (!/^whsec_[0-9A-Za-z+/=_]{8,249}$/.test(secret)) {
    throw new AppError(400, 'invalid_webhook_secret', 'webhookSecret must be the endpoint\'s signing secret (Developers > Webhooks > your endpoint > Signing secret, starts with whsec_), or left out.');
  }
  return secret;
}

/** What a restricted key must be allowed to do here, named as in the Dashboard. */
export const RESTRICTED_KEY_PERMISSIONS =
  'PaymentIntents: Write, Webhook Endpoints: Write, Charges, Refunds, Disputes, Payouts, Balance transactions and Events: Read (the catch-up lists events)';
