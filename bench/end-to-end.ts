/**
 * `npm run bench`, second half: the whole path, from the signed POST to the
 * invoice updated, with the API and the workers as separate processes (as in
 * production), and the one summary table against the targets.
 *
 * 1. Burst: BENCH_E2E_EVENTS (10,000) payment_intent.succeeded events over
 *    BENCH_E2E_INVOICES (1,000) invoices, posted by 50 connections while the
 *    workers run; drain rate = events / (last applied − first sent), the last
 *    applied being the latest processed_at in the inbox. Checked:
 *    every event processed once, invoice totals exact. Repeated for each
 *    worker layout in BENCH_E2E_LAYOUTS ("processes×concurrency", default
 *    1x64,1x16,1x128,2x64,4x32; the first is the default configuration). With BENCH_E2E_DRAIN=1
 *    the burst is stored first and only the workers are timed, draining it.
 * 2. Steady load: 500 requests/s for 10 s with the workers running, open loop
 *    (bench/steady-load.ts, on a thread of its own: one request every 2 ms,
 *    latency from when it was due); p50/p99 acknowledgement latency.
 * 3. Peak RSS (VmHWM) of the API and of each worker process.
 * 4. Where the CPU goes during the burst: CPU µs per event of the API, the workers, MariaDB, Redis and
 *    this load generator (from /proc; on this host's two cores, 1,000 events/s leaves 2,000 µs in all).
 * The ingestion ratio comes from bench/run.ts (.bench/ingestion-latest.json).
 * Redis: BENCH_REDIS_URL (one Redis, or redis+cluster://host:port,…), or BENCH_REDIS_CLUSTER=<masters>
 * to start a Redis Cluster of the bench's own (masters with a replica each, on free ports, removed
 * at the end; its redis-servers count in the Redis CPU); BENCH_QUEUE_SHARDS sets QUEUE_SHARDS.
 * The services run as `npm start` runs them: the compiled dist/src/main.js (built first when stale);
 * BENCH_SOURCE=1 runs src/main.ts through tsx instead, for comparison.
 * Against another build in the same run: BENCH_BASELINE=<checkout> (any commit, `npm ci`-ed; its
 * services started as its own `npm start` runs them) runs each layout on both, alternating, for
 * BENCH_ROUNDS rounds (default 3 with a baseline, else 1), and prints each figure beside the
 * baseline's. BENCH_E2E_WARMUP=<events> first posts and drains that many events over invoices of
 * their own with the workers running, so the burst is timed on warm processes (V8 compiles the
 * hot paths in the first seconds: a fixed cost that is a large share of a 10,000-event burst).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import mysql from 'mysql2/promise';
import { redisTarget } from '../config/redis-url.js';
import { createRedisClient, deleteMatching } from '../src/redis/connections.js';
import { PrivateRedisCluster } from '../test/helpers/private-redis-cluster.js';
import { paymentEvents } from '../test/helpers/payment-events.js';
import { signedDelivery, TEST_WEBHOOK_SECRET } from '../test/helpers/stripe-events.js';
import { startArgs } from '../test/helpers/start-command.js';
import { steadyLoadOnOwnThread } from './steady-load.js';
import { groupCpuSeconds, pidsNamed } from './cpu-time.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(repoRoot, '.bench');
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const settings = {
  events: num('BENCH_E2E_EVENTS', 10_000),
  invoices: num('BENCH_E2E_INVOICES', 1_000),
  connections: num('BENCH_CONNECTIONS', 50),
  steadyRate: num('BENCH_STEADY_RATE', 500),
  steadySeconds: num('BENCH_STEADY_SECONDS', 10),
  // BENCH_E2E_DRAIN=1: post the whole burst first, then start the workers and time them alone on the backlog.
  drainOnly: process.env.BENCH_E2E_DRAIN === '1',
  layouts: (process.env.BENCH_E2E_LAYOUTS ?? '1x64,1x16,1x128,2x64,4x32').split(',').map((l) => {
    const [processes, concurrency] = l.split('x').map(Number);
    return { processes: processes!, concurrency: concurrency! };
  }),
  mysqlRootUrl: (process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, ''),
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  // BENCH_REDIS_CLUSTER=3: a cluster of 3 masters (and 3 replicas) of the bench's own instead of BENCH_REDIS_URL.
  redisClusterMasters: num('BENCH_REDIS_CLUSTER', 0),
  queueShards: num('BENCH_QUEUE_SHARDS', 1),
  warmupEvents: num('BENCH_E2E_WARMUP', 0),
  baseline: process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined,
  rounds: num('BENCH_ROUNDS', process.env.BENCH_BASELINE ? 3 : 1),
};
// What production runs (`npm start`: dist/src/main.js, built first if stale); BENCH_SOURCE=1 runs src/main.ts through tsx instead.
const serviceForm = process.env.BENCH_SOURCE === '1' ? 'source' : 'compiled';

/** A checkout whose services the bench starts: this one, or BENCH_BASELINE's. */
interface Build {
  label: string;
  root: string;
  /** Node's arguments, run in `root`. */
  args: string[];
}

const thisBuild: Build = { label: 'this build', root: repoRoot, args: startArgs(serviceForm) };

/** Another checkout, started as its own package.json `start` runs it (flags and entry, without .env), built first if it builds. */
function baselineBuild(root: string): Build {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.trim().replace(/^exec\s+/, '').split(/\s+/);
  if (command !== 'node') throw new Error(`BENCH_BASELINE: ${root}'s npm start runs ${command}, not node`);
  if (existsSync(path.join(root, 'scripts/build.js')) && spawnSync(process.execPath, ['scripts/build.js', '--if-stale'], { cwd: root, stdio: 'inherit' }).status !== 0) {
    throw new Error(`BENCH_BASELINE: ${root} did not build`);
  }
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  return { label: `baseline ${commit || path.basename(root)}`, root, args: args.filter((arg) => !arg.startsWith('--env-file')) };
}
const ADMIN_TOKEN = randomBytes(24).toString('hex');
const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];
/** After every other cleanup (a cluster the bench started). */
const cleanupsAfter: (() => Promise<void>)[] = [];

/** A service process (what `npm start` runs, without its .env); resolves once it logged `started` (and its port, for the API). */
function spawnService(build: Build, role: 'api' | 'worker', env: Record<string, string>): Promise<{ child: ChildProcess; port?: number }> {
  // BENCH_WORKER_NICE: run workers at a lower CPU priority than the API (a one-host deployment choice).
  const nice = role === 'worker' && process.env.BENCH_WORKER_NICE ? ['nice', '-n', process.env.BENCH_WORKER_NICE] : [];
  // BENCH_NODE_FLAGS: extra node flags for the services, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them.
  const extraFlags = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  const [command, ...args] = [...nice, process.execPath, ...extraFlags, ...build.args];
  const child = spawn(command!, args, {
    cwd: build.root,
    env: { ...process.env, ...env, ROLE: role, PORT: '0', LOG_LEVEL: 'info', STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  createInterface({ input: child.stderr! }).on('line', (line) => console.error(`[${role}]`, line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} did not start within 60 s`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (role === 'api') {
        const port = /"message":"api listening","port":(\d+)/.exec(line)?.[1];
        if (port) {
          clearTimeout(timer);
          resolve({ child, port: Number(port) });
        }
      } else if (line.includes('"message":"worker started"')) {
        clearTimeout(timer);
        resolve({ child });
      }
      if (/"level":"(warn|error)"/.test(line)) console.error(`[${role}]`, line);
    });
    child.once('exit', (code) => reject(new Error(`${role} exited (code ${code}) before starting`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Peak resident set size of a live process, in MB (Linux VmHWM). */
function peakRssMb(child: ChildProcess): number | null {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : null;
  } catch {
    return null;
  }
}

/** Bodies signed as Stripe would; `amount` distinct per event so a lost or doubled one shows in the totals. */
function signedBursts(invoiceIds: string[], count: number, offset: number) {
  return Array.from({ length: count }, (_, i) => {
    const amount = 100 + ((i + offset) % 97);
    const payload = JSON.stringify(paymentEvents({ invoiceId: invoiceIds[(i + offset) % invoiceIds.length]!, amount }).paymentIntent('payment_intent.succeeded'));
    return { amount, ...signedDelivery(payload) };
  });
}

async function post(port: number, bodies: ReturnType<typeof signedBursts>, options: { connections: number; overallRate?: number }) {
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: options.connections,
    amount: bodies.length,
    overallRate: options.overallRate,
    timeout: 30,
    requests: [
      {
        setupRequest: (request) => {
          const body = bodies[next++ % bodies.length]!;
          return { ...request, method: 'POST', path: '/webhooks/stripe', headers: body.headers, body: body.payload };
        },
      },
    ],
  });
  return result;
}

interface LayoutResult {
  layout: string;
  build: string;
  eventsPerSec: number;
  seconds: number;
  /** When the last event was stored, from the start (the API's part of the burst; null draining a stored backlog). */
  storedSeconds: number | null;
  exact: boolean;
  failed: number;
  rssApiMb: number | null;
  rssWorkerMb: (number | null)[];
  cpuUsPerEvent: Record<'api' | 'workers' | 'mariadb' | 'redis' | 'loadgen', number>;
  steady?: { p50: number; p99: number; max: number; rate: number; non2xx: number };
}

/** Until MariaDB and Redis (every one on the host) use under 3 % of a core over half a second; at most 20 s, then says so. */
async function serversSettled(): Promise<void> {
  const pids = [...pidsNamed('mariadbd'), ...pidsNamed('redis-server')];
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const before = groupCpuSeconds(pids);
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (groupCpuSeconds(pids) - before < 0.015) return;
  }
  console.error('  MariaDB and Redis were still busy 20 s after the run (another client of theirs?): the next run may be slowed');
}

/** Creates `count` invoices through the API; returns their ids. */
async function createInvoices(port: number, count: number, numberPrefix: string): Promise<string[]> {
  const invoiceIds: string[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async (_, j) => {
        const res = await fetch(`http://127.0.0.1:${port}/api/invoices`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
          body: JSON.stringify({ number: `${numberPrefix}-${i + j}`, currency: 'usd', amountDue: 99_999_999, customer: { name: 'Bench', email: 'bench@example.com' } }),
        });
        const body = (await res.json()) as { id?: string; error?: { code: string; message: string } };
        if (!body.id) throw new Error(`creating an invoice failed: ${res.status} ${JSON.stringify(body)}`);
        return body.id;
      }),
    );
    invoiceIds.push(...batch);
  }
  return invoiceIds;
}

/** Until no event is left to process. Asks whether anything is left (one index probe), not how much: the poll must not cost MariaDB a scan of the backlog. */
async function drained(db: mysql.Connection): Promise<void> {
  for (;;) {
    const [left] = await db.query<mysql.RowDataPacket[]>("SELECT 1 FROM stripe_events WHERE status = 'received' LIMIT 1");
    if (left.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function runLayout(build: Build, layout: { processes: number; concurrency: number }, withSteady: boolean): Promise<LayoutResult> {
  const id = randomBytes(3).toString('hex');
  const database = `billed_bench_e2e_${id}`;
  const prefix = `billed-bench-e2e-${id}`;
  const env = {
    DATABASE_URL: `${settings.mysqlRootUrl}/${database}`,
    REDIS_URL: settings.redisUrl,
    QUEUE_PREFIX: prefix,
    QUEUE_SHARDS: String(settings.queueShards),
    WORKER_CONCURRENCY: String(layout.concurrency),
  };
  const cleanup = async () => {
    const db = await mysql.createConnection(settings.mysqlRootUrl);
    await db.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await db.end();
    const redis = createRedisClient(redisTarget(settings.redisUrl), { maxRetriesPerRequest: 1 });
    await new Promise((resolve, reject) => {
      redis.once('ready', resolve);
      setTimeout(() => reject(new Error('Redis not ready for the cleanup')), 5000).unref();
    });
    // On a cluster each queue's keys start with its hash tag, {<prefix>:<queue>}.
    for (const pattern of [`${prefix}:*`, `{${prefix}:*`]) await deleteMatching(redis, pattern);
    redis.disconnect();
  };
  cleanups.push(cleanup);

  const api = await spawnService(build, 'api', env);
  const db = await mysql.createConnection(env.DATABASE_URL);
  // The services write DATETIMEs in UTC (db/data-source.ts); read them back the same way.
  await db.query("SET time_zone = '+00:00'");
  try {
    const invoiceIds = await createInvoices(api.port!, settings.invoices, 'E2E');
    const bodies = signedBursts(invoiceIds, settings.events, 0);
    const startWorkers = () => Promise.all(Array.from({ length: layout.processes }, () => spawnService(build, 'worker', env)));
    const backlog = settings.drainOnly ? await post(api.port!, bodies, { connections: settings.connections }) : undefined;
    const workers = await startWorkers();
    // Warm processes: a burst of their own over invoices of their own, drained before anything is timed (not with a stored backlog, which the workers start on).
    let warmupPaid = 0;
    if (settings.warmupEvents > 0 && !settings.drainOnly) {
      const warmupBodies = signedBursts(await createInvoices(api.port!, 100, 'WARM'), settings.warmupEvents, settings.events);
      const warmup = await post(api.port!, warmupBodies, { connections: settings.connections });
      if (warmup['2xx'] !== warmupBodies.length) throw new Error(`warm-up: ${warmup['2xx']} of ${warmupBodies.length} acknowledged`);
      await drained(db);
      warmupPaid = warmupBodies.reduce((sum, b) => sum + b.amount, 0);
    }

    const cpuGroups = {
      api: [api.child.pid!],
      workers: workers.map((w) => w.child.pid!),
      mariadb: pidsNamed('mariadbd'),
      redis: pidsNamed('redis-server'),
      loadgen: [process.pid],
    };
    const cpuNow = () => Object.fromEntries(Object.entries(cpuGroups).map(([name, pids]) => [name, groupCpuSeconds(pids)])) as Record<keyof typeof cpuGroups, number>;
    const cpuBefore = cpuNow();
    const started = Date.now();
    const burst = backlog ?? (await post(api.port!, bodies, { connections: settings.connections }));
    await drained(db);
    // The end is when the last event was applied (its transaction's clock), not when the poll saw it:
    // autocannon hands back control on its own once-a-second tick, which would add up to a second.
    // Draining a stored backlog, the start is the first event applied: the workers begin before their "started" line is read.
    const [[applied]] = await db.query<mysql.RowDataPacket[]>(
      'SELECT UNIX_TIMESTAMP(MIN(processed_at)) * 1000 AS first, UNIX_TIMESTAMP(MAX(processed_at)) * 1000 AS last, UNIX_TIMESTAMP(MAX(received_at)) * 1000 AS stored FROM stripe_events',
    );
    const seconds = (Number(applied!.last) - (settings.drainOnly ? Number(applied!.first) : started)) / 1000;
    const cpuAfter = cpuNow();
    const cpuUsPerEvent = Object.fromEntries(
      Object.keys(cpuGroups).map((name) => [name, Math.round(((cpuAfter[name as keyof typeof cpuGroups] - cpuBefore[name as keyof typeof cpuGroups]) * 1e6) / settings.events)]),
    ) as LayoutResult['cpuUsPerEvent'];
    const [[totals]] = await db.query<mysql.RowDataPacket[]>(
      "SELECT (SELECT COALESCE(SUM(amount_paid), 0) FROM invoices) AS paid, (SELECT COUNT(*) FROM stripe_events WHERE status = 'failed') AS failed",
    );
    const expectedPaid = warmupPaid + bodies.reduce((sum, b) => sum + b.amount, 0);
    if (Number(totals!.paid) !== expectedPaid || burst['2xx'] !== settings.events) {
      const [statuses] = await db.query('SELECT status, reason, COUNT(*) AS n FROM stripe_events GROUP BY status, reason');
      const [unmatched] = await db.query('SELECT unmatched_reason, COUNT(*) AS n FROM payments GROUP BY unmatched_reason');
      console.error(`  totals: paid ${totals!.paid} (expected ${expectedPaid}), 2xx ${burst['2xx']} of ${settings.events}, non-2xx ${burst.non2xx}, errors ${burst.errors}`);
      console.error('  events:', JSON.stringify(statuses), 'payments:', JSON.stringify(unmatched), 'invoice ids:', invoiceIds.slice(0, 2));
    }
    const result: LayoutResult = {
      layout: `${layout.processes}×${layout.concurrency}`,
      build: build.label,
      eventsPerSec: Math.round(settings.events / seconds),
      seconds,
      storedSeconds: settings.drainOnly ? null : (Number(applied!.stored) - started) / 1000,
      exact: Number(totals!.paid) === expectedPaid && burst['2xx'] === settings.events,
      failed: Number(totals!.failed),
      rssApiMb: null,
      rssWorkerMb: [],
      cpuUsPerEvent,
    };
    if (withSteady) {
      const steadyBodies = signedBursts(invoiceIds, settings.steadyRate * settings.steadySeconds, settings.events);
      const steady = await steadyLoadOnOwnThread({
        port: api.port!,
        rate: settings.steadyRate,
        connections: settings.connections,
        requests: steadyBodies.map((b) => ({ path: '/webhooks/stripe', headers: b.headers, body: b.payload })),
      });
      result.steady = { p50: steady.p50, p99: steady.p99, max: steady.max, rate: steady.rate, non2xx: steady.non2xx + steady.errors };
    }
    result.rssApiMb = peakRssMb(api.child);
    result.rssWorkerMb = workers.map((w) => peakRssMb(w.child));
    await Promise.all([stop(api.child), ...workers.map((w) => stop(w.child))]);
    // Each run leaves the servers as it found them: its database dropped and MariaDB done with the
    // work that follows (purge, page flushing), which would otherwise land in the next run's figures.
    cleanups.splice(cleanups.indexOf(cleanup), 1);
    await cleanup();
    await serversSettled();
    return result;
  } finally {
    await db.end();
    await Promise.all([...children].map(stop));
  }
}

/** CPU per event of the service and its databases (API, workers, MariaDB, Redis), without the load generator: the issue's measure. */
const serviceCpu = (c: LayoutResult['cpuUsPerEvent']) => c.api + c.workers + c.mariadb + c.redis;

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Each round's figures of this build beside the baseline's, run just before it, and the medians of the ratios. */
function printComparison(runs: LayoutResult[], builds: Build[]): void {
  const [baseline, current] = builds as [Build, Build];
  console.log(`\nAgainst ${baseline.label} (${baseline.root}), alternating, ${settings.events} events over ${settings.invoices} invoices${settings.warmupEvents > 0 && !settings.drainOnly ? `, after a warm-up of ${settings.warmupEvents}` : ', cold processes'}; CPU = API + workers + MariaDB + Redis, µs per event:\n`);
  const rows: (string | number)[][] = [['layout', 'round', `${baseline.label} events/s`, 'this build events/s', 'rate ×', `${baseline.label} CPU`, 'this build CPU', 'CPU change']];
  for (const layout of [...new Set(runs.map((r) => r.layout))]) {
    const ofBuild = (build: Build) => runs.filter((r) => r.layout === layout && r.build === build.label);
    const pairs = ofBuild(baseline).map((base, i) => [base, ofBuild(current)[i]!] as const);
    const rates = pairs.map(([base, cur]) => cur.eventsPerSec / base.eventsPerSec);
    const cpuChanges = pairs.map(([base, cur]) => serviceCpu(cur.cpuUsPerEvent) / serviceCpu(base.cpuUsPerEvent) - 1);
    pairs.forEach(([base, cur], i) =>
      rows.push([layout, i + 1, base.eventsPerSec, cur.eventsPerSec, rates[i]!.toFixed(2), serviceCpu(base.cpuUsPerEvent), serviceCpu(cur.cpuUsPerEvent), `${(cpuChanges[i]! * 100).toFixed(0)} %`]),
    );
    rows.push([layout, 'median', median(pairs.map(([base]) => base.eventsPerSec)), median(pairs.map(([, cur]) => cur.eventsPerSec)), median(rates).toFixed(2), median(pairs.map(([base]) => serviceCpu(base.cpuUsPerEvent))), median(pairs.map(([, cur]) => serviceCpu(cur.cpuUsPerEvent))), `${(median(cpuChanges) * 100).toFixed(0)} %`]);
  }
  console.log(table(rows));
}

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  if (serviceForm === 'compiled' && spawnSync(process.execPath, ['scripts/build.js', '--if-stale'], { cwd: repoRoot, stdio: 'inherit' }).status !== 0) return 1;
  if (settings.redisClusterMasters > 0) {
    const cluster = await PrivateRedisCluster.start(settings.redisClusterMasters);
    settings.redisUrl = cluster.url;
    // Last: the keys are deleted first, then the cluster goes (its nodes are killed on exit in any case).
    cleanupsAfter.push(() => cluster.stop());
  }
  const builds = settings.baseline ? [baselineBuild(settings.baseline), thisBuild] : [thisBuild];
  // This build's runs feed the summary tables; with a baseline, every run also feeds the comparison.
  const results: LayoutResult[] = [];
  const runs: LayoutResult[] = [];
  for (const [i, layout] of settings.layouts.entries()) {
    for (let round = 1; round <= settings.rounds; round++) {
      for (const build of builds) {
        console.error(`end-to-end: ${build.label}, ${layout.processes} worker process(es) × concurrency ${layout.concurrency}${settings.rounds > 1 ? `, round ${round}` : ''}…`);
        // BENCH_STEADY_SECONDS=0 leaves the steady phase out (e.g. to profile the burst alone).
        const result = await runLayout(build, layout, i === 0 && settings.steadySeconds > 0);
        console.error(
          `  ${result.eventsPerSec} events/s (${result.seconds.toFixed(1)} s${result.storedSeconds === null ? '' : `; the last stored at ${result.storedSeconds.toFixed(1)} s`}), exact ${result.exact}, failed ${result.failed}, CPU ${serviceCpu(result.cpuUsPerEvent)} µs per event`,
        );
        runs.push(result);
        if (build === thisBuild) results.push(result);
      }
    }
  }
  const ingestionFile = path.join(resultsDir, 'ingestion-latest.json');
  const ingestion = existsSync(ingestionFile) ? (JSON.parse(readFileSync(ingestionFile, 'utf8')) as { ratio: number; runs: { receiver: string; label: string; reqPerSec: number; latencyMs: { p50: number; p99: number } }[]; best: { straightLine: string; service: string } }) : undefined;
  const best = (receiver: string, label?: string) => ingestion?.runs.find((r) => r.receiver === receiver && r.label === label);
  const service = best('service', ingestion?.best.service);
  const straight = best('straight-line', ingestion?.best.straightLine);
  const first = results[0]!;
  const bestE2e = results.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
  const maxRss = (xs: (number | null)[]) => Math.max(...xs.map((x) => x ?? 0));

  const cpus = os.cpus();
  console.log(`\nMachine: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, services ${serviceForm === 'compiled' ? 'compiled (dist/)' : 'through tsx (src/)'}${settings.warmupEvents > 0 && !settings.drainOnly ? `, warmed up by ${settings.warmupEvents} events` : ''}`);
  console.log(`Redis: ${redisTarget(settings.redisUrl).address}, QUEUE_SHARDS=${settings.queueShards}\n`);
  console.log(
    table([
      ['measure', 'figure', 'target', 'met'],
      ['ingestion, 50 connections (service / straight-line)', service && straight ? `${Math.round(service.reqPerSec)} / ${Math.round(straight.reqPerSec)} req/s = ${ingestion!.ratio.toFixed(2)}×, p50 ${service.latencyMs.p50} ms, p99 ${service.latencyMs.p99} ms` : 'run bench/run.ts first', '≥ 1.0× (aim 1.5×)', ingestion ? (ingestion.ratio >= 1 ? 'yes' : 'no') : '?'],
      [`end-to-end drain, ${settings.events} payments / ${settings.invoices} invoices (${first.layout})`, `${first.eventsPerSec} events/s, totals ${first.exact ? 'exact' : 'WRONG'}`, '≥ 1,000/s', first.eventsPerSec >= 1000 ? 'yes' : 'no'],
      [`end-to-end drain, best layout (${bestE2e.layout})`, `${bestE2e.eventsPerSec} events/s`, '≥ 1,000/s', bestE2e.eventsPerSec >= 1000 ? 'yes' : 'no'],
      [`acknowledgement at a steady ${settings.steadyRate}/s, workers running`, first.steady ? `p50 ${first.steady.p50} ms, p99 ${first.steady.p99} ms, max ${first.steady.max} ms (${first.steady.rate}/s, non-2xx ${first.steady.non2xx})` : '-', 'p99 < 50 ms', first.steady && first.steady.p99 < 50 ? 'yes' : 'no'],
      ['peak RSS, api / worker', `${maxRss(results.map((r) => r.rssApiMb))} MB / ${maxRss(results.flatMap((r) => r.rssWorkerMb))} MB`, '< 250 MB each', Math.max(maxRss(results.map((r) => r.rssApiMb)), maxRss(results.flatMap((r) => r.rssWorkerMb))) < 250 ? 'yes' : 'no'],
    ]),
  );
  console.log('\nEnd-to-end by worker layout (processes × concurrency):\n');
  console.log(table([['layout', 'events/s', 'seconds', 'totals exact', 'failed', 'worker RSS MB'], ...results.map((r) => [r.layout, r.eventsPerSec, r.seconds.toFixed(1), r.exact ? 'yes' : 'NO', r.failed, r.rssWorkerMb.join(', ')])]));
  console.log('\nCPU µs per event during the burst (2 cores at 1,000 events/s = 2,000 µs in all):\n');
  const cpuTotal = (c: LayoutResult['cpuUsPerEvent']) => c.api + c.workers + c.mariadb + c.redis + c.loadgen;
  console.log(
    table([
      ['layout', 'api', 'workers', 'MariaDB', 'Redis', 'load generator', 'total'],
      ...results.map((r) => [r.layout, r.cpuUsPerEvent.api, r.cpuUsPerEvent.workers, r.cpuUsPerEvent.mariadb, r.cpuUsPerEvent.redis, r.cpuUsPerEvent.loadgen, cpuTotal(r.cpuUsPerEvent)]),
    ]),
  );
  if (settings.baseline) printComparison(runs, builds);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, 'end-to-end-latest.json'), `${JSON.stringify({ at: new Date().toISOString(), settings, results: runs }, null, 2)}\n`);
  return runs.every((r) => r.exact && r.failed === 0) ? 0 : 1;
}

main()
  .then(async (code) => {
    for (const cleanup of [...cleanups, ...cleanupsAfter]) await cleanup().catch(() => undefined);
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    console.error('end-to-end bench failed:', error);
    await Promise.all([...children].map(stop));
    for (const cleanup of [...cleanups, ...cleanupsAfter]) await cleanup().catch(() => undefined);
    process.exit(1);
  });
