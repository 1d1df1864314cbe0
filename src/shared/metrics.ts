import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per process (not prom-client's global one), so tests can run
 * several apps in one process. Gauges that need I/O (queue depth) are wired
 * by whoever owns the resource, through `collectors`.
 */
export function createMetrics() {
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
  const sources: { queueCounts?: () => Promise<Record<string, number>> } = {};
  new Gauge({
    name: 'billed_queue_jobs',
    help: 'Jobs in the event queue by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = (await sources.queueCounts?.().catch(() => undefined)) ?? {};
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });

  return { registry, webhooksReceived, enqueueFailures, relayed, jobDuration, sources };
}

export type Metrics = ReturnType<typeof createMetrics>;
