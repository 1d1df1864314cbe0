import { isIP } from 'node:net';
import { z } from 'zod';
import { parseRedisUrl } from './redis-url.js';

/**
 * The one place that reads process.env. Every variable has a default for local
 * use (MariaDB/MySQL and Redis on their default ports) and a one-line doc,
 * which the config table in docs/configuration.md mirrors.
 */

const csv = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);

/** 32 bytes, given as 64 hex characters or as base64. */
function parseEncryptionKey(value: string): Buffer | undefined {
  const trimmed = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    if (bytes.length === 32) return bytes;
  }
  return undefined;
}

const urlWithProtocol = (protocols: string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL like ${example}` },
  );

/** The parts of a connection URL that are percent-decoded before use must decode. */
function percentEncodingIsValid(url: URL): boolean {
  try {
    for (const part of [url.username, url.password, url.pathname]) decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
}

/**
 * Express's `trust proxy`: false (the default: the peer is the client), true (trust every hop),
 * a hop count, or a comma list of addresses/subnets (and Express's names loopback, linklocal, uniquelocal).
 */
function parseTrustProxy(value: string): boolean | number | string[] | undefined {
  const trimmed = value.trim().toLowerCase();
  if (trimmed === 'false') return false;
  if (trimmed === 'true') return true;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const entries = csv(trimmed);
  const isAddress = (entry: string) => {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
    const [address, bits, ...rest] = entry.split('/');
    if (rest.length || !address || isIP(address) === 0) return false;
    if (bits === undefined) return true;
    const max = isIP(address) === 4 ? 32 : 128;
    return /^\d+$/.test(bits) && Number(bits) <= max;
  };
  return entries.length > 0 && entries.every(isAddress) ? entries : undefined;
}

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const envSchema = z
  .object({
    /** development | test | production; production makes ENCRYPTION_KEY mandatory. */
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    /** all: API and workers in one process; api or worker: one side only. */
    ROLE: z.enum(['all', 'api', 'worker']).default('all'),
    /** HTTP port of the API. */
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /** A client must send a request's headers within this many ms of starting it (or of connecting): slower ones get 408 and are cut. */
    HTTP_HEADERS_TIMEOUT_MS: positiveInt(10_000),
    /** A client must send a whole request, body included, within this many ms: slower ones get 408 and are cut. */
    HTTP_REQUEST_TIMEOUT_MS: positiveInt(30_000),
    /** An idle keep-alive connection is closed after this many ms (keep it above a load balancer's idle timeout). */
    HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveInt(5_000),
    /** Open connections at most; one beyond is closed at once, unanswered. */
    HTTP_MAX_CONNECTIONS: positiveInt(1_000),
    /** MySQL/MariaDB connection; the database is created at start if missing. */
    DATABASE_URL: urlWithProtocol(['mysql:'], 'mysql://root@127.0.0.1:3306/billed')
      .refine((value) => !URL.canParse(value) || new URL(value).pathname.replace(/^\//, '') !== '', {
        message: 'must name a database, e.g. mysql://root@127.0.0.1:3306/billed',
      })
      .refine((value) => !URL.canParse(value) || percentEncodingIsValid(new URL(value)), {
        message: 'has a malformed %-escape in its user, password or database name: write a special character as %XX (e.g. @ as %40, % as %25)',
      })
      .default('mysql://root@127.0.0.1:3306/billed'),
    /** Redis for the BullMQ queues: redis://host:port (rediss:// with TLS), or a Redis Cluster as redis+cluster://host:port,host:port (rediss+cluster:// with TLS). */
    REDIS_URL: z
      .string()
      .superRefine((value, ctx) => {
        const parsed = parseRedisUrl(value);
        if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
      })
      .default('redis://127.0.0.1:6379'),
    /** Key prefix of the BullMQ queues in Redis; on a Redis Cluster each queue gets its own hash tag, {<prefix>:<queue>}. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_{}-]+$/, 'letters, digits, _ - { } only')
      .default('billed'),
    /** Event queues the events are spread over (by account and payment), each in its own Redis Cluster slot; workers consume all. 1: the one stripe-events queue. */
    QUEUE_SHARDS: z.coerce.number().int().min(1).max(64).default(1),
    /** The default account's webhook signing secrets (whsec_...), comma-separated while a secret is rolled. */
    STRIPE_WEBHOOK_SECRET: z
      .string()
      .optional()
      .transform(csv)
      .refine((secrets) => secrets.every((s) => s.startsWith('whsec_')), {
        message: 'each comma-separated value must be a webhook signing secret starting with whsec_',
      }),
    /** The default account's Stripe API key (sk_ or rk_). */
    STRIPE_SECRET_KEY: z
      .string()
      .trim()
      .optional()
      .refine((key) => !key || /^(sk|rk)_(live|test)_/.test(key), {
        message: 'must be a secret (sk_live_/sk_test_) or restricted (rk_) key, not a pk_ or whsec_ value',
      }),
    /** Another Stripe API host, e.g. http://127.0.0.1:12111 for a local fake or stripe-mock. */
    STRIPE_API_BASE: urlWithProtocol(['http:', 'https:'], 'http://127.0.0.1:12111').optional(),
    /** Another PayPal API host for every call, sandbox and live alike (a local fake); webhook signing certificates are accepted from it too. */
    PAYPAL_API_BASE: urlWithProtocol(['http:', 'https:'], 'http://127.0.0.1:12112').optional(),
    /** The subject common names a PayPal webhook signing certificate may have, comma-separated (PayPal's two by default; a test CA's in tests). */
    PAYPAL_CERT_COMMON_NAMES: z
      .string()
      .optional()
      .transform(csv)
      .refine((names) => names.every((name) => /^[A-Za-z0-9*.-]{1,253}$/.test(name)), { message: 'must be host-like names (letters, digits, dots, hyphens), comma-separated' }),
    /** 32 bytes (64 hex characters or base64) that encrypt keys at rest; required in production. */
    ENCRYPTION_KEY: z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined || value.trim() === '') return undefined;
        const key = parseEncryptionKey(value);
        if (!key) {
          ctx.addIssue({ code: 'custom', message: 'must be 32 bytes: 64 hex characters or 44 base64 characters' });
          return z.NEVER;
        }
        return key;
      }),
    /** Bootstrap admin bearer token. */
    ADMIN_TOKEN: z
      .string()
      .optional()
      .refine((token) => !token || token.length >= 16, { message: 'must be at least 16 characters' }),
    /** When set, GET /metrics needs Authorization: Bearer <METRICS_TOKEN> (16+ characters); unset, /metrics is open. */
    METRICS_TOKEN: z
      .string()
      .optional()
      .refine((token) => !token || token.length >= 16, { message: 'must be at least 16 characters' }),
    /** Express trust proxy behind a TLS proxy: false, true, a hop count, or a comma list of proxy addresses/subnets. */
    TRUST_PROXY: z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return false;
        const parsed = parseTrustProxy(value);
        if (parsed === undefined) {
          ctx.addIssue({ code: 'custom', message: 'must be false, true, a hop count (e.g. 1), or a comma list of addresses/subnets (e.g. 10.0.0.0/8,loopback)' });
          return z.NEVER;
        }
        return parsed;
      }),
    /** Where Stripe and PayPal can reach this service; used to create webhook endpoints (Stripe) and webhooks (PayPal). */
    PUBLIC_BASE_URL: urlWithProtocol(['http:', 'https:'], 'https://billing.example.com').optional(),
    /** error | warn | info | http | debug */
    LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'debug']).default('info'),
    /** A rejected webhook signature is logged (warn) at most once per account per this many ms, with the count of those not logged. */
    SIGNATURE_LOG_INTERVAL_MS: positiveInt(60_000),
    /** A request failing for a known cause (503 storage_unavailable, webhook_not_configured…) is logged at most once per cause per this many ms, with the count of those not logged. */
    FAILURE_LOG_INTERVAL_MS: positiveInt(60_000),
    /** Jobs a worker process runs at once; a batch job counts once, with at most WORKER_BATCH_SIZE of its events in flight. */
    WORKER_CONCURRENCY: positiveInt(64),
    /**
     * Events at most per database transaction when jobs queue up (1: one transaction per event).
     * 64 rather than 32 since batch jobs (a burst's inbox INSERT, ~25–60 events, is one job): measured
     * 10–17 % more events/s and 10–13 % less CPU per event end to end, three alternating pairs.
     */
    WORKER_BATCH_SIZE: positiveInt(64),
    /**
     * Batch transactions a worker process runs at once. One: while it runs, the next batch fills,
     * so batches are bigger and each event costs less (measured: more events/s than with two).
     * The trade-off: a batch stuck on a row lock held elsewhere (a long manual transaction) holds
     * up the process's other jobs until the lock comes free or MySQL's lock wait times out.
     */
    WORKER_BATCH_LANES: positiveInt(1),
    /** Tries per event before it is marked failed (exponential backoff between them). */
    JOB_ATTEMPTS: positiveInt(8),
    /** First retry delay in ms; doubles each try. */
    JOB_BACKOFF_MS: positiveInt(2000),
    /** How long a worker's hold on a job lasts unless renewed (renewed at half); a job whose worker died is taken back after it. */
    WORKER_LOCK_DURATION_MS: positiveInt(30_000),
    /** How often workers look for jobs whose worker died (stalled jobs). */
    WORKER_STALLED_INTERVAL_MS: positiveInt(30_000),
    /** How often the relay looks for stored events that never reached the queue. */
    RELAY_INTERVAL_MS: positiveInt(10_000),
    /** An event still `received` after this long is re-enqueued by the relay. */
    RELAY_AFTER_MS: positiveInt(60_000),
    /** Processed and ignored events received longer ago than this many days are purged (failed ones are kept); fractions allowed. */
    EVENT_RETENTION_DAYS: z.coerce.number().positive().default(90),
    /** How often the retention purge runs (a BullMQ job scheduler on the maintenance queue). */
    EVENT_RETENTION_INTERVAL_MS: positiveInt(3_600_000),
    /**
     * How often each account with an API key is caught up with Stripe (its events listed, the ones no
     * delivery brought stored and processed) and its webhook endpoint checked; also once after start-up.
     * 0 turns the automatic runs off (POST /api/ops/catch-up still works).
     */
    CATCH_UP_INTERVAL_MS: z.coerce
      .number()
      .int()
      .refine((ms) => ms === 0 || ms >= 1000, { message: 'must be 0 (automatic catch-up off) or at least 1000 ms' })
      .default(900_000),
    /** Requests per second at most that a catch-up makes to Stripe for one account (Stripe's own limit is per account: leave room for Pay Now). */
    CATCH_UP_MAX_RPS: z.coerce.number().positive().max(100).default(10),
  })
  .superRefine((env, ctx) => {
    if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['HTTP_HEADERS_TIMEOUT_MS'], message: `must not exceed HTTP_REQUEST_TIMEOUT_MS (${env.HTTP_REQUEST_TIMEOUT_MS}): the headers are part of the request` });
    }
    if (env.NODE_ENV === 'production' && !env.ENCRYPTION_KEY) {
      ctx.addIssue({ code: 'custom', path: ['ENCRYPTION_KEY'], message: 'is required when NODE_ENV=production' });
    }
  });

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; fails naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "use the default", as in most .env tooling.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'} ${issue.message}`));
  }
  return result.data;
}
