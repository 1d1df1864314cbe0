import { AppError } from '../shared/errors.js';
import { PaypalApiError, requestAccessToken, type PaypalApiOptions, type PaypalCredentials, type PaypalMode, type PaypalToken } from './paypal-client.js';

export interface CheckedCredentials extends PaypalCredentials {
  mode: PaypalMode;
}

/** Where the merchant finds them. */
const where = (mode?: PaypalMode) => `developer.paypal.com > Apps & Credentials > ${mode === 'live' ? 'Live' : mode === 'sandbox' ? 'Sandbox' : 'Sandbox or Live'} > your app`;
/** PayPal's client ids and secrets: about 80 letters, digits, - and _. 128 bounds what is sent and stored. */
const CREDENTIAL = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * The first check of what was pasted, before PayPal is asked: trimmed (pasting picks up spaces and
 * newlines), both present, each of the characters PayPal uses, and a mode. Each mistake gets its
 * own code and says what to paste.
 */
export function checkCredentials(body: { clientId?: unknown; clientSecret?: unknown; mode?: unknown }): CheckedCredentials {
  const clientId = typeof body.clientId === 'string' ? body.clientId.trim() : '';
  const clientSecret = typeof body.clientSecret === 'string' ? body.clientSecret.trim() : '';
  const missing = [!clientId && 'clientId', !clientSecret && 'clientSecret'].filter(Boolean);
  if (missing.length > 0) {
    throw new AppError(400, 'paypal_credentials_missing', `Paste your PayPal app's ${missing.length === 2 ? 'Client ID and Secret' : missing[0] === 'clientId' ? 'Client ID (clientId)' : 'Secret (clientSecret)'}: ${where()}.`, { missing });
  }
  for (const [field, value, name] of [['clientId', clientId, 'Client ID'], ['clientSecret', clientSecret, 'Secret']] as const) {
    if (!CREDENTIAL.test(value)) {
      throw new AppError(400, 'paypal_credentials_malformed', `${field} does not look like a PayPal app's ${name}: it is letters, digits, - and _ (about 80 of them), copied whole from ${where()}.`, { field });
    }
  }
  if (clientId === clientSecret) {
    throw new AppError(400, 'paypal_credentials_malformed', `clientId and clientSecret are the same value: paste the Client ID in clientId and the Secret in clientSecret (${where()}).`, { field: 'clientSecret' });
  }
  const mode = typeof body.mode === 'string' ? body.mode.trim().toLowerCase() : '';
  if (mode !== 'sandbox' && mode !== 'live') {
    throw new AppError(400, 'paypal_mode_invalid', 'mode must be "sandbox" (PayPal\'s test environment) or "live", the environment the app\'s credentials come from.', { field: 'mode' });
  }
  return { clientId, clientSecret, mode };
}

const otherMode = (mode: PaypalMode): PaypalMode => (mode === 'live' ? 'sandbox' : 'live');

/**
 * Asks PayPal for a token with the credentials in their mode. PayPal's sandbox and live are two
 * worlds: a sandbox app's credentials get 401 `invalid_client` from the live host, exactly as
 * mistyped ones do. So a 401 is asked again of the other host; if it accepts them, the merchant
 * picked the wrong mode (paypal_mode_mismatch, naming the right one), else they are wrong
 * (paypal_credentials_invalid). No answer → 502 paypal_unreachable; nothing is saved either way.
 */
export async function tokenFor(credentials: CheckedCredentials, api: PaypalApiOptions): Promise<PaypalToken> {
  try {
    return await requestAccessToken(credentials, credentials.mode, api);
  } catch (error) {
    if (!(error instanceof PaypalApiError)) throw error;
    if (error.status === 401) {
      const other = otherMode(credentials.mode);
      const elsewhere = await requestAccessToken(credentials, other, api).then(
        () => 'accepted' as const,
        (otherError: unknown) => (otherError instanceof PaypalApiError && otherError.status === 401 ? ('refused' as const) : ('unknown' as const)),
      );
      if (elsewhere === 'accepted') {
        throw new AppError(
          400,
          'paypal_mode_mismatch',
          `These are ${other} credentials, and mode is "${credentials.mode}": PayPal's ${credentials.mode} environment does not know them. Send mode "${other}", or paste the ${credentials.mode} app's Client ID and Secret (${where(credentials.mode)}).`,
          { mode: credentials.mode, credentialsMode: other },
        );
      }
      throw new AppError(
        400,
        'paypal_credentials_invalid',
        `PayPal refused these credentials (invalid_client)${elsewhere === 'refused' ? ' in sandbox and in live' : ` in ${credentials.mode} (PayPal's ${other} environment could not be asked whether they are ${other} credentials)`}: the Secret was regenerated, the app deleted, or a character is missing. Copy the Client ID and Secret again from ${where(credentials.mode)}.`,
      );
    }
    throw unreachableOr(error, 'check the credentials');
  }
}

/** A PayPal failure while doing `what`: 502 paypal_unreachable (no answer, 5xx), else 502 paypal_error with PayPal's words. */
export function unreachableOr(error: PaypalApiError, what: string): AppError {
  if (error.unreachable) {
    return new AppError(502, 'paypal_unreachable', `PayPal could not be reached to ${what} (${error.status === null ? error.message : `HTTP ${error.status}`}); nothing was saved. Try again in a minute.`);
  }
  return new AppError(
    502,
    'paypal_error',
    `PayPal refused to ${what}: ${error.paypalName} (${error.message})${error.debugId ? `, debug id ${error.debugId}` : ''}; nothing was saved.`,
    { paypalError: error.paypalName },
  );
}
