import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth, deliver, settled } from '../helpers/billing-client.js';
import { stripeEvent } from '../helpers/stripe-events.js';
import { waitFor } from '../helpers/wait-for.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';
import { createDataSource } from '../../src/db/data-source.js';
import { createAuditLog } from '../../src/ops/audit-log.js';
import { MAINTENANCE_QUEUE_NAME, PURGE_SCHEDULER_ID, purgeSettledEvents } from '../../src/ops/retention.js';

describe('retention', () => {
  describe('the scheduled purge', () => {
    let t: TestService;
    before(async () => {
      t = await startTestService(
        {
          DATABASE_URL: uniqueDatabaseUrl('retention'),
          // ~2 s: everything settled in this test is soon old enough.
          EVENT_RETENTION_DAYS: String(2 / 86_400),
          EVENT_RETENTION_INTERVAL_MS: '300',
          JOB_ATTEMPTS: '2',
        },
        {
          registry: {
            'charge.succeeded': async () => {},
            'charge.dispute.created': async () => {
              throw new Error('still broken');
            },
          },
        },
      );
    });
    after(() => t.stop());

    it('runs from a BullMQ job scheduler on the maintenance queue', async () => {
      const connection = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
      const queue = new Queue(MAINTENANCE_QUEUE_NAME, { connection, prefix: t.config.QUEUE_PREFIX });
      try {
        const schedulers = await waitFor('the scheduler', async () => {
          const found = await queue.getJobSchedulers();
          return found.length ? found : undefined;
        });
        assert.deepEqual(
          schedulers.map((s) => [s.key, s.every]),
          [[PURGE_SCHEDULER_ID, 300]],
        );
      } finally {
        await queue.close();
        connection.disconnect();
      }
    });

    it('purges processed and ignored events past the age, with their history, and keeps failed ones', async () => {
      const processed = stripeEvent({ type: 'charge.succeeded', resource: 'charge' });
      const ignored = stripeEvent({ type: 'customer.created', resource: 'customer' });
      const failed = stripeEvent({ type: 'charge.dispute.created', resource: 'dispute' });
      for (const event of [processed, ignored, failed]) await deliver(t, event);
      assert.equal((await settled(t, processed.id)).status, 'processed');
      assert.equal((await settled(t, ignored.id)).status, 'ignored');
      assert.equal((await settled(t, failed.id)).status, 'failed');

      await waitFor(
        'the settled events to be purged',
        async () => {
          const rows = await t.query<{ id: string }>('SELECT id FROM stripe_events WHERE id IN (?)', [[processed.id, ignored.id, failed.id]]);
          return rows.length === 1 ? rows : undefined;
        },
        15_000,
        100,
      );
      const [kept] = await t.query<{ id: string; status: string }>('SELECT id, status FROM stripe_events WHERE id IN (?)', [[processed.id, ignored.id, failed.id]]);
      assert.deepEqual({ ...kept }, { id: failed.id, status: 'failed' });
      const history = await t.query<{ event_id: string }>('SELECT DISTINCT event_id FROM event_attempts WHERE event_id IN (?)', [[processed.id, ignored.id, failed.id]]);
      assert.deepEqual(history.map((h) => h.event_id), [failed.id], 'history goes with its event');

      const audit = await t.http.get('/api/ops/audit').query({ action: 'events.purge' }).set(auth);
      assert.ok(audit.body.data.length >= 1);
      assert.deepEqual(audit.body.data[0].actor, { id: 'system', name: 'system', role: 'system' });
      assert.ok(audit.body.data.reduce((sum: number, e: { count: number }) => sum + e.count, 0) >= 2);
    });
  });

  describe('purgeSettledEvents', () => {
    const databaseUrl = uniqueDatabaseUrl('retention_unit');
    let t: TestService;
    before(async () => {
      // Started only to create and migrate the database; its worker must not purge behind the test's back.
      t = await startTestService({ DATABASE_URL: databaseUrl, ROLE: 'api' });
    });
    after(() => t.stop());

    it('deletes in batches exactly the settled events received before the cut-off', async () => {
      const insert = (id: string, status: string, daysAgo: number) =>
        t.query(
          `INSERT INTO stripe_events (id, type, livemode, stripe_created, payload, status, ingest_batch, received_at)
           VALUES (?, 'charge.succeeded', 0, 0, '{}', ?, 'x', NOW(3) - INTERVAL ? DAY)`,
          [id, status, daysAgo],
        );
      const old = ['evt_old_p1', 'evt_old_p2', 'evt_old_p3', 'evt_old_i1', 'evt_old_i2'];
      for (const id of old) await insert(id, id.includes('_p') ? 'processed' : 'ignored', 100);
      await insert('evt_old_failed', 'failed', 100);
      await insert('evt_old_received', 'received', 100);
      await insert('evt_new_processed', 'processed', 10);
      await t.query("INSERT INTO event_attempts (event_id, attempt, started_at, finished_at, outcome) VALUES ('evt_old_p1', 1, NOW(3), NOW(3), 'processed'), ('evt_old_failed', 1, NOW(3), NOW(3), 'failed')");

      const dataSource = createDataSource(databaseUrl, { poolSize: 2 });
      await dataSource.initialize();
      try {
        const purged = await purgeSettledEvents({
          dataSource,
          audit: createAuditLog(dataSource),
          logger: createMemoryLogger().logger,
          olderThan: new Date(Date.now() - 90 * 86_400_000),
          batchSize: 2,
        });
        assert.equal(purged, 5);
      } finally {
        await dataSource.destroy();
      }
      const left = (await t.query<{ id: string }>('SELECT id FROM stripe_events ORDER BY id')).map((r) => r.id);
      assert.deepEqual(left, ['evt_new_processed', 'evt_old_failed', 'evt_old_received']);
      const history = (await t.query<{ event_id: string }>('SELECT event_id FROM event_attempts')).map((r) => r.event_id);
      assert.deepEqual(history, ['evt_old_failed']);
    });
  });
});
