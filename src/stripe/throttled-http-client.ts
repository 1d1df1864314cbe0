import Stripe from 'stripe';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Spaces requests so that at most `maxRps` start per second; shared by everything one account's catch-up sends. */
export interface RequestPacer {
  take(): Promise<void>;
}

export function createRequestPacer(maxRps: number): RequestPacer {
  const spacingMs = 1000 / maxRps;
  let nextAt = 0;
  return {
    async take() {
      const now = Date.now();
      const at = Math.max(now, nextAt);
      nextAt = at + spacingMs;
      if (at > now) await sleep(at - now);
    },
  };
}

export interface ThrottleStats {
  /** Requests sent to Stripe, retries included. */
  requests: number;
  /** 429 answers, each followed by a wait and a retry. */
  rateLimited: number;
  /** Time spent waiting after 429 answers. */
  backoffMs: number;
}

export interface ThrottleOptions {
  pacer: RequestPacer;
  /** 429s in a row one request may get before its 429 goes back to stripe-node, which throws StripeRateLimitError. */
  maxRateLimitRetries?: number;
  /** The first wait after a 429; doubles each 429 in a row, up to `maxBackoffMs`. */
  backoffBaseMs?: number;
  maxBackoffMs?: number;
  inner?: Stripe.HttpClient;
}

/**
 * A stripe-node HTTP client that paces its requests (`pacer`) and waits out Stripe's 429s.
 * stripe-node retries connection errors, 409 and 5xx itself (maxNetworkRetries), but not a 429
 * unless the answer says `Stripe-Should-Retry: true`, which rate-limit answers do not; and a
 * failed page ends its auto-pagination iterator for good. So the 429 is waited out here, under the
 * iterator: exponential backoff with jitter (or Retry-After when Stripe sends one), the request
 * sent again, and the listing goes on where it was.
 */
export function createThrottledHttpClient(options: ThrottleOptions): { client: Stripe.HttpClient; stats: ThrottleStats } {
  const inner = options.inner ?? Stripe.createNodeHttpClient();
  const maxRetries = options.maxRateLimitRetries ?? 8;
  const baseMs = options.backoffBaseMs ?? 1000;
  const maxMs = options.maxBackoffMs ?? 32_000;
  const stats: ThrottleStats = { requests: 0, rateLimited: 0, backoffMs: 0 };

  const waitFor = (response: Stripe.HttpClientResponse, inARow: number) => {
    const retryAfter = Number(response.getHeaders()['retry-after']);
    if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter * 1000, maxMs);
    const ceiling = Math.min(baseMs * 2 ** inARow, maxMs);
    // Jitter: between half and all of it, so the account's requests do not all come back at once.
    return ceiling * (0.5 + Math.random() / 2);
  };

  const client: Stripe.HttpClient = {
    getClientName: () => `${inner.getClientName()}-throttled`,
    async makeRequest(...args) {
      for (let inARow = 0; ; inARow += 1) {
        await options.pacer.take();
        stats.requests += 1;
        const response = await inner.makeRequest(...args);
        if (response.getStatusCode() !== 429 || inARow >= maxRetries) return response;
        stats.rateLimited += 1;
        // The answer's body is read off (and dropped) so its connection goes back to the pool.
        await Promise.resolve(response.toJSON()).catch(() => undefined);
        const ms = waitFor(response, inARow);
        stats.backoffMs += ms;
        await sleep(ms);
      }
    },
  };
  return { client, stats };
}
