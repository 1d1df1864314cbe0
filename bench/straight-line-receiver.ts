/**
 * Child-process entry for `npm run bench`: the baseline the service must keep
 * up with. Plain Express, one request at a time, no batching:
 * verify → one INSERT → one queue add → 200. Same MySQL pool size (20), the
 * same queue and job options as the service, so the difference is the
 * service's own hot path (group commit, middleware, validation).
 *
 * Env: PORT, DATABASE_URL (database already migrated), REDIS_URL, QUEUE_PREFIX,
 * STRIPE_WEBHOOK_SECRET. Prints `listening <port>` when ready.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import Stripe from 'stripe';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    console.error(`straight-line receiver: ${name} is required`);
    process.exit(78);
  }
  return value;
};

const secret = env('STRIPE_WEBHOOK_SECRET');
const pool = mysql.createPool({
  uri: env('DATABASE_URL'),
  connectionLimit: 20,
  charset: 'utf8mb4',
  timezone: 'Z',
  enableKeepAlive: true,
});
const redis = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: 1 });
// Mirrors src/events/event-queue.ts: same queue name and job options, so both write the same Redis data.
const queue = new Queue('stripe-events', {
  connection: redis,
  prefix: env('QUEUE_PREFIX'),
  defaultJobOptions: {
    attempts: 8,
    backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  },
});

const app = express();
app.post('/webhooks/stripe', express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
  let event: Stripe.Event;
  try {
    event = Stripe.webhooks.constructEvent(req.body as Buffer, req.get('stripe-signature') ?? '', secret);
  } catch {
    res.status(400).json({ error: { code: 'signature_invalid' } });
    return;
  }
  const object = event.data.object as { id?: string };
  await pool.query(
    'INSERT IGNORE INTO stripe_events (id, account_id, type, livemode, stripe_created, api_version, object_id, payload, ingest_batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [
      event.id,
      null,
      event.type,
      event.livemode,
      event.created,
      event.api_version ?? null,
      object.id ?? null,
      (req.body as Buffer).toString('utf8'),
      randomBytes(8).toString('hex'),
    ],
  );
  await queue.add(event.type, { eventId: event.id }, { jobId: event.id });
  res.status(200).json({ received: true });
});
const onError: ErrorRequestHandler = (error, _req, res, _next) => {
  console.error('straight-line receiver:', error instanceof Error ? error.message : error);
  if (!res.headersSent) res.status(503).json({ error: { code: 'storage_unavailable' } });
};
app.use(onError);

const server = app.listen(Number(process.env.PORT ?? 0), () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});

const stop = () => {
  setTimeout(() => process.exit(1), 10_000).unref();
  server.close();
  void Promise.allSettled([queue.close(), pool.end()])
    .then(() => redis.quit())
    .finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
