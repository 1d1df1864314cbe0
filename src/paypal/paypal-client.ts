import { connect as tcpConnect } from 'node:net';
import { Agent as HttpsAgent } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { ApiError, Client, Environment } from '@paypal/paypal-server-sdk';
import { describeError } from '../shared/errors.js';

/**
 * Talking to PayPal's REST API: the official server SDK (@paypal/paypal-server-sdk) where it has
 * the call, plain fetch where it has not.
 *
 * The SDK covers the OAuth client-credentials token (its ClientCredentialsAuthManager), orders
 * (create, get, capture…) and payments (captures, refunds, authorizations), subscriptions, vault and
 * transaction search. It has no webhooks management (create, list, update, delete) and no
 * verify-webhook-signature: those go through `paypalRequest` below, with a bearer token from the SDK.
 *
 * The SDK's base URL is fixed per environment (api-m.paypal.com, api-m.sandbox.paypal.com). With
 * PAYPAL_API_BASE set (a local fake in tests), its requests keep PayPal's URLs, and so the Host
 * header telling sandbox from live, while an https agent connects them to PAYPAL_API_BASE instead.
 */

export type PaypalMode = 'sandbox' | 'live';

export const PAYPAL_API_HOSTS: Record<PaypalMode, string> = {
  live: 'https://api-m.paypal.com',
  sandbox: 'https://api-m.sandbox.paypal.com',
};

export interface PaypalApiOptions {
  /** PAYPAL_API_BASE: every call goes there (a local fake), whatever the mode. */
  apiBase?: string;
  /** A call not answered within this is given up (PayPal unreachable). */
  timeoutMs?: number;
}

export interface PaypalCredentials {
  clientId: string;
  clientSecret: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * An answer from PayPal that is an error, or none at all (`status` null: not reached, timed out).
 * `name` is PayPal's error name (`invalid_client`, `WEBHOOK_URL_ALREADY_EXISTS`, `UNPROCESSABLE_ENTITY`…).
 */
export class PaypalApiError extends Error {
  constructor(
    readonly status: number | null,
    readonly paypalName: string,
    message: string,
    readonly debugId?: string,
    /** The first of PayPal's `details[].issue` (ORDER_NOT_APPROVED, INSTRUMENT_DECLINED…): what a 422 is about. */
    readonly issue?: string,
  ) {
    super(message);
    this.name = 'PaypalApiError';
  }

  /** PayPal did not answer, or answered 5xx: worth trying again later. */
  get unreachable(): boolean {
    return this.status === null || this.status >= 500;
  }
}

export const paypalApiBase = (mode: PaypalMode, options: PaypalApiOptions = {}) => (options.apiBase ?? PAYPAL_API_HOSTS[mode]).replace(/\/$/, '');

/** Connections for PayPal's https URLs, made to PAYPAL_API_BASE instead (plain TCP for an http:// base). */
class RebasedAgent extends HttpsAgent {
  constructor(private readonly base: URL) {
    super({ keepAlive: false });
  }

  override createConnection(): Duplex {
    const host = this.base.hostname.replace(/^\[|\]$/g, '');
    if (this.base.protocol === 'http:') return tcpConnect({ host, port: Number(this.base.port || 80) });
    return tlsConnect({ host, port: Number(this.base.port || 443), servername: host });
  }
}

/** An SDK client for one app's credentials in one mode; no retries of its own (callers decide), a timeout on every call. */
export function createPaypalSdkClient(credentials: PaypalCredentials, mode: PaypalMode, options: PaypalApiOptions = {}): Client {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Client({
    clientCredentialsAuthCredentials: { oAuthClientId: credentials.clientId, oAuthClientSecret: credentials.clientSecret },
    environment: mode === 'live' ? Environment.Production : Environment.Sandbox,
    timeout,
    httpClientOptions: {
      timeout,
      retryConfig: { maxNumberOfRetries: 0 },
      ...(options.apiBase && { httpsAgent: new RebasedAgent(new URL(options.apiBase)) }),
    },
  });
}

/** Any error from an SDK call as a PaypalApiError: PayPal's status and error name, or "not reached". */
export function sdkError(error: unknown): PaypalApiError {
  if (error instanceof PaypalApiError) return error;
  if (error instanceof ApiError) {
    const result = (error.result ?? {}) as { error?: unknown; error_description?: unknown; name?: unknown; message?: unknown; debug_id?: unknown; details?: unknown };
    const name = String(result.error ?? result.name ?? `HTTP_${error.statusCode}`);
    const message = String(result.error_description ?? result.message ?? error.message);
    const issue = Array.isArray(result.details) ? (result.details[0] as { issue?: unknown } | undefined)?.issue : undefined;
    return new PaypalApiError(error.statusCode, name, message, typeof result.debug_id === 'string' ? result.debug_id : undefined, typeof issue === 'string' ? issue : undefined);
  }
  return new PaypalApiError(null, 'unreachable', describeError(error));
}

export interface PaypalToken {
  accessToken: string;
  /** Unix seconds, when PayPal says. */
  expiresAt: number | null;
}

/** POST /v1/oauth2/token (client credentials, Basic auth) through the SDK. 401 `invalid_client`: PayPal does not know these credentials in this mode. */
export async function requestAccessToken(credentials: PaypalCredentials, mode: PaypalMode, options: PaypalApiOptions = {}): Promise<PaypalToken> {
  try {
    const token = await createPaypalSdkClient(credentials, mode, options).clientCredentialsAuthManager.fetchToken();
    return { accessToken: token.accessToken, expiresAt: token.expiry === undefined ? null : Number(token.expiry) };
  } catch (error) {
    throw sdkError(error);
  }
}

/** A call the SDK does not have (webhooks management), as JSON with a bearer token; 204 answers null. */
export async function paypalRequest<T>(
  mode: PaypalMode,
  accessToken: string,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body: unknown,
  options: PaypalApiOptions = {},
): Promise<T> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${paypalApiBase(mode, options)}${path}`, {
      method,
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      redirect: 'error',
    });
    text = await response.text();
  } catch (error) {
    throw new PaypalApiError(null, 'unreachable', describeError(error));
  }
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      if (response.ok) throw new PaypalApiError(response.status, 'invalid_response', `PayPal answered ${method} ${path} with a body that is not JSON`);
    }
  }
  if (!response.ok) {
    const error = (parsed ?? {}) as { name?: unknown; error?: unknown; message?: unknown; error_description?: unknown; debug_id?: unknown };
    throw new PaypalApiError(
      response.status,
      String(error.name ?? error.error ?? `HTTP_${response.status}`),
      String(error.message ?? error.error_description ?? `HTTP ${response.status}`),
      typeof error.debug_id === 'string' ? error.debug_id : undefined,
    );
  }
  return parsed as T;
}
