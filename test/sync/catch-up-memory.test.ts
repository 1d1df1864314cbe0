import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type Stripe from 'stripe';
import mysql from 'mysql2/promise';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { REDIS_URL, trackDatabase, uniqueDatabaseUrl } from '../helpers/test-database.js';
import { deleteKeys } from '../helpers/test-service.js';
import { paymentEvents } from '../helpers/payment-events.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = fileURLToPath(new URL('../helpers/catch-up-heap.probe.ts', import.meta.url));
const KEY = 'sk_test_51HcatchUpHeap0123456789abcdef';
const EVENTS = 50_000;
const MAX_GROWTH_MB = 50;

describe('catch-up memory', function () {
  this.timeout(180_000);

  it(`streams ${EVENTS.toLocaleString('en')} listed events into the inbox with the process's heap growing less than ${MAX_GROWTH_MB} MB`, async () => {
    const fake = await startFakeStripe();
    const databaseUrl = uniqueDatabaseUrl('catch_up_heap');
    trackDatabase(databaseUrl);
    const prefix = `billed-test-${randomBytes(4).toString('hex')}`;
    try {
      const account = fake.addAccount({ keys: [KEY] }).id;
      // Real-sized events (1.5–2.6 kB: a PaymentIntent and a charge), made a page at a time by the fake.
      const payment = paymentEvents({ invoiceId: 'inv_heap', amount: 1234 });
      const templates = [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')];
      const newest = Math.floor(Date.now() / 1000) - 300;
      fake.events.addGenerated(account, {
        count: EVENTS,
        at: (i) => ({ ...templates[i % 2]!, id: `evt_heap${i}`, created: newest - Math.floor(i / 10) }) as Stripe.Event,
        indexOf: (id) => (/^evt_heap(\d+)$/.test(id) ? Number(id.slice(8)) : undefined),
      });

      const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--expose-gc', '--import', 'tsx', PROBE],
          {
            cwd: ROOT,
            env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl, REDIS_URL, QUEUE_PREFIX: prefix, STRIPE_SECRET_KEY: KEY, STRIPE_API_BASE: fake.url, CATCH_UP_MAX_RPS: '100' },
            timeout: 170_000,
            maxBuffer: 16 * 1024 * 1024,
          },
          (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
        );
      });
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
        outcome: { ran: boolean; listed: number; new: number; durationMs: number; eventsPerSecond: number; requests: number };
        pages: number;
        baselineMb: number;
        peakMb: number;
        finalMb: number;
        samples: number[];
      };
      assert.equal(result.outcome.ran, true);
      assert.deepEqual([result.outcome.listed, result.outcome.new], [EVENTS, EVENTS]);
      const growth = result.peakMb - result.baselineMb;
      console.log(
        `      (${EVENTS} events in ${(result.outcome.durationMs / 1000).toFixed(1)} s, ${result.outcome.eventsPerSecond} events/s, ${result.outcome.requests} requests; ` +
          `heap after GC ${result.baselineMb.toFixed(1)} MB after the first page, at most ${result.peakMb.toFixed(1)} MB: +${growth.toFixed(1)} MB; samples ${result.samples.join(' ')})`,
      );
      assert.ok(growth < MAX_GROWTH_MB, `heap grew ${growth.toFixed(1)} MB`);

      const db = await mysql.createConnection(databaseUrl);
      try {
        const [rows] = await db.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n, SUM(source = 'catch_up') AS fetched FROM stripe_events");
        assert.deepEqual([Number(rows[0]!.n), Number(rows[0]!.fetched)], [EVENTS, EVENTS]);
      } finally {
        await db.end();
      }
    } finally {
      await fake.stop();
      await deleteKeys(REDIS_URL, `${prefix}:*`);
    }
  });
});
