import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { Ingestor, type IncomingEvent } from '../src/events/ingest.js';
import type { EventPublisher } from '../src/events/event-publisher.js';
import { createMetrics } from '../src/shared/metrics.js';
import { createMemoryLogger } from './helpers/memory-logger.js';

const event = (id: string): IncomingEvent => ({
  id,
  type: 'payment_intent.succeeded',
  created: 1_760_000_000,
  livemode: false,
  apiVersion: null,
  objectId: null,
  accountId: null,
  payload: '{}',
});

describe('inbox group commit under a stuck INSERT', () => {
  it('answers a request queued behind it 503 storage_unavailable by its own deadline, not after another full wait', async () => {
    // MySQL black-holed: the first INSERT (a prepared statement on the driver's pool) never answers.
    const dataSource = { driver: { pool: { execute: () => undefined } }, query: () => new Promise(() => undefined) } as unknown as DataSource;
    const publisher = { assignBatchJobs: <E>(events: readonly E[]) => [...events], publish: async () => undefined } as unknown as EventPublisher;
    const ingestor = new Ingestor({ dataSource, publisher, logger: createMemoryLogger().logger, metrics: createMetrics(), storeTimeoutMs: 300, maxInFlight: 1 });

    const started = Date.now();
    const first = ingestor.ingest(event('evt_first')).catch((error: unknown) => ({ error, at: Date.now() - started }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const queued = ingestor.ingest(event('evt_queued')).catch((error: unknown) => ({ error, at: Date.now() - started }));

    const [a, b] = (await Promise.all([first, queued])) as { error: { status: number; code: string }; at: number }[];
    for (const outcome of [a!, b!]) assert.deepEqual([outcome.error.status, outcome.error.code], [503, 'storage_unavailable']);
    assert.ok(a!.at >= 290 && a!.at < 450, `the stuck batch answers at its deadline (${a!.at} ms)`);
    assert.ok(b!.at >= 390 && b!.at < 550, `the queued request answers at its own deadline, not after another full wait (${b!.at} ms)`);
  });
});
