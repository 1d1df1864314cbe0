import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the alerting gauges read from the inbox (see src/ops/event-stats.ts). */
export interface InboxStats {
  failed: number;
  oldestReceivedAgeSeconds: number;
  relayBacklog: number;
}

/** Per account with an API key, from the catch-up's state (src/sync/sync-state.ts). */
export interface AccountSyncStats {
  /** `default` or the merchant account id: bounded by the connected accounts. */
  account: string;
  /** Whose events: `stripe` or `paypal`. */
  gateway: 'stripe' | 'paypal';
  recoveredTotal: number;
  /** Unix seconds; null until a catch-up of the account succeeded. */
  lastSuccessAt: number | null;
  /** Problems of the account's webhook endpoint as last checked; null when not watched or not checked yet. */
  endpointProblems: number | null;
}

/** The label value of every event type outside the subscribed list. */
export const OTHER_EVENT_TYPE = 'other';

/**
 * One registry per process (not prom-client's global one), so tests can run
 * several apps in one process. Gauges that need I/O (queue depth) are wired
 * by whoever owns the resource, through `collectors`.
 *
 * `eventTypes`: the subscribed event types, the only ones that become a `type` label value of
 * billed_job_duration_seconds. Any signed event may name any type, and each label value is a
 * series Prometheus keeps: the rest are counted as `other` (the event itself says which type it was).
 */
export function createMetrics(options: { eventTypes?: readonly string[] } = {}) {
  const eventTypes = new Set(options.eventTypes ?? []);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const webhooksReceived = new Counter({
    name: 'billed_webhooks_received_total',
    help: 'Webhook deliveries by outcome (stored, duplicate, signature_invalid, payload_invalid, storage_unavailable, ...)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const enqueueFailures = new Counter({
    name: 'billed_enqueue_failures_total',
    help: 'Stored events whose queue add failed on the request path (the relay re-enqueues them)',
    registers: [registry],
  });
  const relayed = new Counter({
    name: 'billed_relay_enqueued_total',
    help: 'Events re-enqueued by the relay',
    registers: [registry],
  });
  const jobDuration = new Histogram({
    name: 'billed_job_duration_seconds',
    help: 'Event processing time by event type and outcome',
    labelNames: ['type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  /** Times one event job; its type is a label value only when it is a subscribed one. */
  const startEventJobTimer = (eventType: string) => jobDuration.startTimer({ type: eventTypes.has(eventType) ? eventType : OTHER_EVENT_TYPE });
  const sources: {
    queueCounts?: () => Promise<Record<string, number>>;
    /** The same, per event queue shard (QUEUE_SHARDS). */
    shardCounts?: () => Promise<Record<string, Record<string, number>>>;
    /** Inbox numbers for alerting (failed, oldest waiting, relay backlog); wired on the API side. */
    eventStats?: () => Promise<InboxStats>;
    /** Catch-up and endpoint health per account; wired on the API side (the worker's runs write them to the database). */
    syncStats?: () => Promise<AccountSyncStats[]>;
  } = {};
  new Gauge({
    name: 'billed_queue_jobs',
    help: 'Jobs in the event queue by state (over all its shards)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = (await sources.queueCounts?.().catch(() => undefined)) ?? {};
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });

  new Gauge({
    name: 'billed_event_queue_shard_jobs',
    help: 'Jobs in each event queue shard by state (QUEUE_SHARDS): one shard filling while the others drain points at its Redis Cluster master',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      const shards = (await sources.shardCounts?.().catch(() => undefined)) ?? {};
      for (const [queue, counts] of Object.entries(shards)) {
        for (const [state, count] of Object.entries(counts)) this.set({ queue, state }, count);
      }
    },
  });

  // Alerting: failures on-call must replay, work that is not getting done, and what the relay is behind on.
  const eventGauge = (name: string, help: string, pick: (stats: InboxStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const stats = await sources.eventStats?.().catch(() => undefined);
        if (stats) this.set(pick(stats));
      },
    });
  eventGauge('billed_events_failed', 'Stored events whose retries are exhausted (status failed): replay them once the cause is fixed', (s) => s.failed);
  eventGauge('billed_events_oldest_unprocessed_age_seconds', 'Age of the oldest event still received (not yet processed); 0 when none waits', (s) => s.oldestReceivedAgeSeconds);
  eventGauge('billed_events_relay_backlog', 'Events still received after RELAY_AFTER_MS: what the relay has to re-enqueue', (s) => s.relayBacklog);

  // Catch-up and endpoint health, read from the database on each scrape: the runs happen in worker
  // processes, which serve no /metrics, and the counts must survive restarts.
  const syncStats = async () => (await sources.syncStats?.().catch(() => undefined)) ?? [];
  new Counter({
    name: 'billed_catch_up_recovered_events_total',
    help: 'Events the catch-up found at the gateway (Stripe or PayPal) that no delivery had brought (non-zero: deliveries were missed), per account and gateway',
    labelNames: ['account', 'gateway'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await syncStats()) this.inc({ account: row.account, gateway: row.gateway }, row.recoveredTotal);
    },
  });
  new Gauge({
    name: 'billed_catch_up_last_success_timestamp_seconds',
    help: 'When the last successful catch-up of the account (of the gateway\'s events) ended (unix seconds)',
    labelNames: ['account', 'gateway'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await syncStats()) if (row.lastSuccessAt !== null) this.set({ account: row.account, gateway: row.gateway }, row.lastSuccessAt);
    },
  });
  new Gauge({
    name: 'billed_webhook_endpoint_problems',
    help: 'Problems found on the account\'s webhook endpoint (Stripe) or webhook (PayPal) at its last check (disabled, deleted, wrong URL, missing event types, check failed); 0: healthy',
    labelNames: ['account', 'gateway'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await syncStats()) if (row.endpointProblems !== null) this.set({ account: row.account, gateway: row.gateway }, row.endpointProblems);
    },
  });

  return { registry, webhooksReceived, enqueueFailures, relayed, jobDuration, startEventJobTimer, sources };
}

export type Metrics = ReturnType<typeof createMetrics>;
