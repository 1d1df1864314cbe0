/**
 * `npm run bench:footprint`: what one service process (ROLE=all) costs, compiled (`npm start`:
 * node dist/src/main.js) against the TypeScript source through tsx (`npm run dev`, and what
 * `npm start` ran before the build): both with npm start's node flags.
 *
 * - start-up: spawn → first /readyz 200 (database already migrated), median and range of
 *   BENCH_FOOTPRINT_RUNS (5) starts per form, the forms alternating so a busy neighbour on the
 *   shared CPU hits both alike; and the CPU the process spent until then (less noisy when shared);
 * - RSS at rest: VmRSS after BENCH_FOOTPRINT_IDLE_SECONDS (10) idle, each start;
 * - RSS peak under a burst: VmHWM after BENCH_E2E_EVENTS (10,000) signed payment_intent.succeeded
 *   over BENCH_E2E_INVOICES (1,000) invoices, 50 connections, drained by the same process (last start).
 *
 * BENCH_FOOTPRINT_FORMS=source,compiled picks the forms; BENCH_FOOTPRINT_SOURCE_ROOT runs the
 * source form from another checkout (e.g. an older commit, node_modules linked).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { freePort } from '../test/helpers/free-port.js';
import { paymentEvents } from '../test/helpers/payment-events.js';
import { signedDelivery, TEST_WEBHOOK_SECRET } from '../test/helpers/stripe-events.js';
import { startArgs } from '../test/helpers/start-command.js';
import { cpuSeconds } from './cpu-time.js';

type Form = 'source' | 'compiled';
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const settings = {
  runs: num('BENCH_FOOTPRINT_RUNS', 5),
  idleSeconds: num('BENCH_FOOTPRINT_IDLE_SECONDS', 10),
  events: num('BENCH_E2E_EVENTS', 10_000),
  invoices: num('BENCH_E2E_INVOICES', 1_000),
  forms: (process.env.BENCH_FOOTPRINT_FORMS ?? 'source,compiled').split(',') as Form[],
  sourceRoot: process.env.BENCH_FOOTPRINT_SOURCE_ROOT ?? repoRoot,
  mysqlRootUrl: (process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, ''),
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
};
const ADMIN_TOKEN = randomBytes(24).toString('hex');
const runId = randomBytes(3).toString('hex');
const envFor = (form: Form) => ({
  DATABASE_URL: `${settings.mysqlRootUrl}/billed_bench_footprint_${runId}_${form}`,
  REDIS_URL: settings.redisUrl,
  QUEUE_PREFIX: `billed-bench-footprint-${runId}-${form}`,
});

/** VmRSS or VmHWM of a live process, in MB. */
function memoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}

/** Spawns the service and resolves with it once /readyz answers 200, and how long that took. */
async function startService(form: Form): Promise<{ child: ChildProcess; port: number; startupMs: number; startupCpuMs: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, startArgs(form), {
    cwd: form === 'source' ? settings.sourceRoot : repoRoot,
    env: { ...process.env, ...envFor(form), ROLE: 'all', PORT: String(port), LOG_LEVEL: 'warn', STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, ADMIN_TOKEN },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${form} exited (code ${child.exitCode}) before it was ready`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
    if (ready) return { child, port, startupMs: Math.round(performance.now() - started), startupCpuMs: Math.round((cpuSeconds(child.pid!) ?? NaN) * 1000) };
    if (Date.now() > deadline) throw new Error(`${form} was not ready within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Creates the invoices, posts the signed burst, waits until every event left `received`. */
async function burst(form: Form, port: number): Promise<void> {
  const invoiceIds: string[] = [];
  for (let i = 0; i < settings.invoices; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, settings.invoices - i) }, async (_, j) => {
        const res = await fetch(`http://127.0.0.1:${port}/api/invoices`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
          body: JSON.stringify({ number: `FP-${i + j}`, currency: 'usd', amountDue: 99_999_999, customer: { name: 'Bench', email: 'bench@example.com' } }),
        });
        const body = (await res.json()) as { id?: string };
        if (!body.id) throw new Error(`creating an invoice failed: ${res.status} ${JSON.stringify(body)}`);
        return body.id;
      }),
    );
    invoiceIds.push(...batch);
  }
  const bodies = Array.from({ length: settings.events }, (_, i) =>
    signedDelivery(JSON.stringify(paymentEvents({ invoiceId: invoiceIds[i % invoiceIds.length]!, amount: 100 + (i % 97) }).paymentIntent('payment_intent.succeeded'))),
  );
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 50,
    amount: bodies.length,
    timeout: 30,
    requests: [
      {
        setupRequest: (request) => {
          const body = bodies[next++]!;
          return { ...request, method: 'POST', path: '/webhooks/stripe', headers: body.headers, body: body.payload };
        },
      },
    ],
  });
  if (result['2xx'] !== settings.events) throw new Error(`${form}: ${result['2xx']} of ${settings.events} answered 2xx`);
  const db = await mysql.createConnection(envFor(form).DATABASE_URL);
  try {
    for (;;) {
      const [left] = await db.query<mysql.RowDataPacket[]>("SELECT 1 FROM stripe_events WHERE status = 'received' LIMIT 1");
      if (left.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await db.end();
  }
}

async function cleanup(): Promise<void> {
  const db = await mysql.createConnection(settings.mysqlRootUrl);
  const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    for (const form of settings.forms) {
      await db.query(`DROP DATABASE IF EXISTS \`${new URL(envFor(form).DATABASE_URL).pathname.slice(1)}\``);
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${envFor(form).QUEUE_PREFIX}:*`, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = nextCursor;
      } while (cursor !== '0');
    }
  } finally {
    await db.end();
    redis.disconnect();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[]) => `${Math.min(...xs)}–${Math.max(...xs)}`;

async function main(): Promise<void> {
  if (settings.forms.includes('compiled') && spawnSync(process.execPath, ['scripts/build.js', '--if-stale'], { cwd: repoRoot, stdio: 'inherit' }).status !== 0) {
    throw new Error('the build failed');
  }
  const results = new Map<Form, { startupMs: number[]; startupCpuMs: number[]; restMb: number[]; peakMb?: number }>(
    settings.forms.map((form) => [form, { startupMs: [], startupCpuMs: [], restMb: [] }]),
  );
  try {
    // A first start per form creates and migrates its database; it is not timed.
    for (const form of settings.forms) await stop((await startService(form)).child);
    for (let run = 1; run <= settings.runs; run++) {
      for (const form of run % 2 ? settings.forms : [...settings.forms].reverse()) {
        const service = await startService(form);
        const result = results.get(form)!;
        try {
          result.startupMs.push(service.startupMs);
          result.startupCpuMs.push(service.startupCpuMs);
          await new Promise((resolve) => setTimeout(resolve, settings.idleSeconds * 1000));
          result.restMb.push(memoryMb(service.child.pid!, 'VmRSS'));
          if (run === settings.runs) {
            await burst(form, service.port);
            result.peakMb = memoryMb(service.child.pid!, 'VmHWM');
          }
          const peak = run === settings.runs ? `, ${result.peakMb} MB peak under the burst` : '';
          console.error(`${form} #${run}: ready in ${service.startupMs} ms (${service.startupCpuMs} ms CPU), ${result.restMb.at(-1)} MB at rest${peak}`);
        } finally {
          await stop(service.child);
        }
      }
    }
  } finally {
    await cleanup();
  }
  const cpus = os.cpus();
  console.log(`\nMachine: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${os.loadavg()[0]!.toFixed(1)}; ROLE=all, ${settings.runs} starts per form\n`);
  console.log(`| form | start-up to /readyz 200, median (range) | CPU until then | RSS at rest after ${settings.idleSeconds} s | RSS peak, burst of ${settings.events} |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const [form, r] of results) {
    const label = form === 'compiled' ? `compiled: node ${startArgs('compiled').join(' ')}` : `tsx: node ${startArgs('source').join(' ')}`;
    console.log(`| ${label} | ${median(r.startupMs)} ms (${range(r.startupMs)}) | ${median(r.startupCpuMs)} ms (${range(r.startupCpuMs)}) | ${median(r.restMb)} MB (${range(r.restMb)}) | ${r.peakMb ?? '-'} MB |`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
