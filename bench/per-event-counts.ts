/**
 * What one event costs in messages, counted, not timed: per signed
 * `payment_intent.succeeded` on the whole path (webhook → inbox → queue → worker →
 * invoice paid), the SQL statements and round trips to MariaDB, the Redis commands
 * (sent by the service, and executed by Redis, those inside BullMQ's scripts
 * included) and the bytes both ways, for the API and the worker apart. Counts do
 * not depend on how busy the machine is, as CPU figures do.
 *
 *   npx tsx bench/per-event-counts.ts [checkout]     (default: this one)
 *
 * The services run from `checkout` as `npm run dev` runs them (`node --import tsx
 * src/main.ts`, ROLE=api and ROLE=worker), so any commit can be measured with this
 * script: `git worktree add /tmp/x <commit> && (cd /tmp/x && npm ci)`. Each talks to
 * MariaDB (a database of its own) and to a private redis-server through counting
 * proxies (bench/counting-proxy.ts); other clients of the shared MariaDB do not count.
 *
 * Two passes over fresh invoices, COUNT_EVENTS (1,000) events over COUNT_INVOICES
 * (100) invoices each:
 * - one at a time: each event posted once the one before is applied: no batching
 *   anywhere, the same counts on every run;
 * - burst: COUNT_CONNECTIONS (50) connections, the workers running: the inbox's and
 *   the worker's batches form as they do under load, so the counts vary a little
 *   from run to run with the batch sizes (shown).
 * Background work (relay, schedulers, idle polls) is measured over an idle window
 * first and shown as a rate per second; it is not subtracted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { paymentEvents } from '../test/helpers/payment-events.js';
import { signedDelivery, TEST_WEBHOOK_SECRET } from '../test/helpers/stripe-events.js';
import { PrivateRedis } from '../test/helpers/private-redis.js';
import { cpuSeconds, pidsNamed } from './cpu-time.js';
import { PrivateMariaDb } from './private-mariadb.js';
import { bullmqScriptNames, CountingProxy, diffCounts, mysqlParser, redisParser, totalOf, type Counts } from './counting-proxy.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const checkout = path.resolve(process.argv[2] ?? repoRoot);
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const settings = {
  events: num('COUNT_EVENTS', 1000),
  invoices: num('COUNT_INVOICES', 100),
  connections: num('COUNT_CONNECTIONS', 50),
  idleSeconds: num('COUNT_IDLE_SECONDS', 5),
  // COUNT_SEQUENTIAL=0: the burst only.
  sequential: process.env.COUNT_SEQUENTIAL !== '0',
  // COUNT_PERF=<file>: `perf record -e cpu-clock -g` of both services during the burst, JS frames named (--perf-basic-prof).
  perfFile: process.env.COUNT_PERF,
  // COUNT_PRIVATE_MARIADB=1: a MariaDB of the bench's own (bench/private-mariadb.ts), whose CPU is then shown too.
  privateMariaDb: process.env.COUNT_PRIVATE_MARIADB === '1',
  mysql: new URL(process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'),
};
const ADMIN_TOKEN = randomBytes(24).toString('hex');
const children = new Set<ChildProcess>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Side = 'api' | 'worker';
interface Proxies {
  mysql: CountingProxy;
  redis: CountingProxy;
}

function spawnService(role: Side, env: Record<string, string>): Promise<{ child: ChildProcess; port?: number }> {
  // COUNT_NODE_FLAGS: extra node flags for both services (e.g. --trace-gc: its scavenges and mark-compacts are tallied).
  const extraFlags = [...(process.env.COUNT_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []), ...(settings.perfFile ? ['--perf-basic-prof'] : [])];
  const child = spawn(process.execPath, ['--max-old-space-size=192', ...extraFlags, '--import', 'tsx', 'src/main.ts'], {
    cwd: checkout,
    env: { ...process.env, ...env, ROLE: role, PORT: '0', LOG_LEVEL: 'info', STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, ADMIN_TOKEN, NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  createInterface({ input: child.stderr! }).on('line', (line) => console.error(`[${role}]`, line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} did not start within 90 s`)), 90_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const gc = /: (Scavenge|Mark-Compact|Mark-sweep)\b.*?MB, ([\d.]+) \/ ([\d.]+) ms/.exec(line);
      if (gc) {
        const tally = (gcTallies[role][gc[1]!] ??= { count: 0, ms: 0 });
        tally.count += 1;
        tally.ms += Number(gc[2]);
      }
      const port = /"message":"api listening","port":(\d+)/.exec(line)?.[1];
      if ((role === 'api' && port) || (role === 'worker' && line.includes('"message":"worker started"'))) {
        clearTimeout(timer);
        resolve({ child, port: port ? Number(port) : undefined });
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

/** The bench's own commands on the private Redis (INFO, and its wait for each job's completion): left out of the counts. */
const BENCH_COMMANDS = new Set(['info', 'xread', 'xrevrange']);

/** Calls per command as Redis executed them (commands inside scripts included), the bench's own left out. */
async function commandStats(redis: Redis): Promise<Record<string, number>> {
  const stats: Record<string, number> = {};
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match && !BENCH_COMMANDS.has(match[1]!)) stats[match[1]!] = Number(match[2]);
  }
  return stats;
}

/** What the kernel counted for a process: read- and write-type system calls, context switches, CPU ticks. */
interface ProcessCounts {
  syscr: number;
  syscw: number;
  switches: number;
  cpuSeconds: number;
}

function processCounts(pid: number): ProcessCounts {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    syscr: field(io, 'syscr'),
    syscw: field(io, 'syscw'),
    switches: field(status, 'voluntary_ctxt_switches') + field(status, 'nonvoluntary_ctxt_switches'),
    cpuSeconds: cpuSeconds(pid) ?? NaN,
  };
}

const diffProcess = (a: ProcessCounts, b: ProcessCounts): ProcessCounts => ({
  syscr: a.syscr - b.syscr,
  syscw: a.syscw - b.syscw,
  switches: a.switches - b.switches,
  cpuSeconds: a.cpuSeconds - b.cpuSeconds,
});

/** The pid of the private redis-server listening on `port`. */
function redisPid(port: number): number {
  const pid = pidsNamed('redis-server').find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`:${port}`));
  if (!pid) throw new Error(`no redis-server found on port ${port}`);
  return pid;
}

const pids: Partial<Record<Side | 'redis' | 'mariadb', number>> = {};
/** Garbage collections seen in the services' --trace-gc output (COUNT_NODE_FLAGS), by kind. */
const gcTallies: Record<Side, Record<string, { count: number; ms: number }>> = { api: {}, worker: {} };
const gcSnapshot = () => JSON.parse(JSON.stringify(gcTallies)) as typeof gcTallies;

interface Snapshot {
  api: { mysql: Counts; redis: Counts; process: ProcessCounts };
  worker: { mysql: Counts; redis: Counts; process: ProcessCounts };
  redisServer: ProcessCounts;
  /** The private MariaDB's, when there is one. */
  mariadb?: ProcessCounts;
  redisExecuted: Record<string, number>;
  gc: typeof gcTallies;
}

async function snapshot(proxies: Record<Side, Proxies>, redis: Redis): Promise<Snapshot> {
  const of = (side: Side) => ({ mysql: proxies[side].mysql.snapshot(), redis: proxies[side].redis.snapshot(), process: processCounts(pids[side]!) });
  return { api: of('api'), worker: of('worker'), redisServer: processCounts(pids.redis!), mariadb: pids.mariadb ? processCounts(pids.mariadb) : undefined, redisExecuted: await commandStats(redis), gc: gcSnapshot() };
}

type Delta = Snapshot;

function delta(after: Snapshot, before: Snapshot): Delta {
  const executed: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.redisExecuted)) {
    const d = n - (before.redisExecuted[name] ?? 0);
    if (d) executed[name] = d;
  }
  const side = (s: Side) => ({
    mysql: diffCounts(after[s].mysql, before[s].mysql),
    redis: diffCounts(after[s].redis, before[s].redis),
    process: diffProcess(after[s].process, before[s].process),
  });
  const gc = (s: Side) =>
    Object.fromEntries(
      Object.entries(after.gc[s]).map(([kind, t]) => [kind, { count: t.count - (before.gc[s][kind]?.count ?? 0), ms: t.ms - (before.gc[s][kind]?.ms ?? 0) }]),
    );
  return {
    api: side('api'),
    worker: side('worker'),
    redisServer: diffProcess(after.redisServer, before.redisServer),
    mariadb: after.mariadb && before.mariadb ? diffProcess(after.mariadb, before.mariadb) : undefined,
    redisExecuted: executed,
    gc: { api: gc('api'), worker: gc('worker') },
  };
}

async function createInvoices(port: number, count: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 25) {
    ids.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(25, count - i) }, async (_, j) => {
          const res = await fetch(`http://127.0.0.1:${port}/api/invoices`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
            body: JSON.stringify({ number: `CNT-${label}-${i + j}`, currency: 'usd', amountDue: 99_999_999, customer: { name: 'Bench', email: 'bench@example.com' } }),
          });
          const body = (await res.json()) as { id?: string };
          if (!body.id) throw new Error(`creating an invoice failed: ${res.status} ${JSON.stringify(body)}`);
          return body.id;
        }),
      )),
    );
  }
  return ids;
}

function signedEvents(invoiceIds: string[], count: number) {
  return Array.from({ length: count }, (_, i) => {
    const amount = 100 + (i % 97);
    const payload = JSON.stringify(paymentEvents({ invoiceId: invoiceIds[i % invoiceIds.length]!, amount }).paymentIntent('payment_intent.succeeded'));
    return { amount, ...signedDelivery(payload) };
  });
}

/**
 * Waits for one job's `completed` entry in the queue's event stream (XREAD BLOCK on the private Redis,
 * past the proxies): the worker completes a job once its transaction committed. No polling, so the
 * servers' CPU one event at a time is the services' alone.
 */
function completionWaiter(redisUrl: string, streamKey: string) {
  const reader = new Redis(redisUrl);
  let lastId = '$';
  return {
    async start(): Promise<void> {
      const [newest] = (await reader.xrevrange(streamKey, '+', '-', 'COUNT', 1)) as [string, string[]][];
      lastId = newest?.[0] ?? '0';
    },
    async completed(jobId: string): Promise<void> {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const reply = (await reader.xread('BLOCK', 5000, 'STREAMS', streamKey, lastId)) as [string, [string, string[]][]][] | null;
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          lastId = id;
          const entry = new Map<string, string>();
          for (let i = 0; i < fields.length; i += 2) entry.set(fields[i]!, fields[i + 1]!);
          if (entry.get('event') === 'completed' && entry.get('jobId') === jobId) return;
          if (entry.get('event') === 'failed' && entry.get('jobId') === jobId) throw new Error(`job ${jobId} failed: ${entry.get('failedReason')}`);
        }
        if (Date.now() > deadline) throw new Error(`job ${jobId} not completed after 60 s`);
      }
    },
    close: () => reader.disconnect(),
  };
}

/**
 * Waits until no event is left `received`. Read past the proxies (not counted), and cheap for the
 * server whose CPU is measured: one probe of the status index, not a count of the settled rows.
 */
async function waitSettled(db: mysql.Connection, pollMs: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [left] = await db.query<mysql.RowDataPacket[]>("SELECT 1 FROM stripe_events WHERE status = 'received' LIMIT 1");
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error('events still unsettled after 120 s');
    await sleep(pollMs);
  }
}

async function checkTotals(db: mysql.Connection, invoiceIds: string[], expected: number): Promise<void> {
  const [[row]] = await db.query<mysql.RowDataPacket[]>('SELECT COALESCE(SUM(amount_paid), 0) AS paid FROM invoices WHERE id IN (?)', [invoiceIds]);
  const [[failed]] = await db.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM stripe_events WHERE status NOT IN ('processed')");
  if (Number(row!.paid) !== expected || Number(failed!.n) !== 0) {
    throw new Error(`totals wrong: paid ${row!.paid}, expected ${expected}; ${failed!.n} events not processed`);
  }
}

async function main(): Promise<void> {
  const id = randomBytes(3).toString('hex');
  const database = `billed_counts_${id}`;
  const privateRedis = await PrivateRedis.onFreePort();
  await privateRedis.start();
  const redis = new Redis(privateRedis.url);
  const scripts = await bullmqScriptNames(checkout);
  const privateMariaDb = settings.privateMariaDb ? await PrivateMariaDb.start() : undefined;
  if (privateMariaDb) {
    pids.mariadb = privateMariaDb.pid;
    settings.mysql = new URL(`mysql://root@127.0.0.1:${privateMariaDb.port}`);
  }
  const mysqlTarget = { host: settings.mysql.hostname, port: Number(settings.mysql.port || 3306) };
  const proxies = {} as Record<Side, Proxies>;
  for (const side of ['api', 'worker'] as const) {
    proxies[side] = {
      mysql: await CountingProxy.start(mysqlTarget, mysqlParser),
      redis: await CountingProxy.start({ host: '127.0.0.1', port: privateRedis.port }, redisParser(scripts)),
    };
  }
  const auth = settings.mysql.username ? `${settings.mysql.username}${settings.mysql.password ? `:${settings.mysql.password}` : ''}@` : '';
  const envFor = (side: Side) => ({
    DATABASE_URL: `mysql://${auth}127.0.0.1:${proxies[side].mysql.port}/${database}`,
    REDIS_URL: `redis://127.0.0.1:${proxies[side].redis.port}`,
    QUEUE_PREFIX: `billed-counts-${id}`,
  });
  const db = await mysql.createConnection(`${settings.mysql.protocol}//${auth}${mysqlTarget.host}:${mysqlTarget.port}`);
  try {
    const api = await spawnService('api', envFor('api'));
    const worker = await spawnService('worker', envFor('worker'));
    pids.api = api.child.pid;
    pids.worker = worker.child.pid;
    pids.redis = redisPid(privateRedis.port);
    await db.query(`USE \`${database}\``);
    const sequentialInvoices = await createInvoices(api.port!, settings.invoices, 'seq');
    const burstInvoices = await createInvoices(api.port!, settings.invoices, 'burst');
    const sequentialEvents = signedEvents(sequentialInvoices, settings.events);
    const burstEvents = signedEvents(burstInvoices, settings.events);
    const url = `http://127.0.0.1:${api.port}/webhooks/stripe`;

    // Background work, with nothing to do.
    await sleep(1000);
    let before = await snapshot(proxies, redis);
    await sleep(settings.idleSeconds * 1000);
    const idle = delta(await snapshot(proxies, redis), before);

    // One at a time.
    let sequential: Delta | undefined;
    let sequentialSeconds = 0;
    if (settings.sequential) {
      const waiter = completionWaiter(privateRedis.url, `${envFor('api').QUEUE_PREFIX}:stripe-events:events`);
      await waiter.start();
      before = await snapshot(proxies, redis);
      const started = Date.now();
      for (const event of sequentialEvents) {
        const res = await fetch(url, { method: 'POST', headers: event.headers, body: event.payload });
        if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
        await waiter.completed((JSON.parse(event.payload) as { id: string }).id);
      }
      sequentialSeconds = (Date.now() - started) / 1000;
      sequential = delta(await snapshot(proxies, redis), before);
      waiter.close();
      await waitSettled(db, 1);
      await checkTotals(db, sequentialInvoices, sequentialEvents.reduce((sum, e) => sum + e.amount, 0));
    }

    // Burst.
    const perf = settings.perfFile
      ? spawn('perf', ['record', '-e', 'cpu-clock', '-g', '-o', settings.perfFile, '-p', `${pids.api},${pids.worker}`], { stdio: 'ignore' })
      : undefined;
    if (perf) await sleep(500);
    before = await snapshot(proxies, redis);
    const started = Date.now();
    let next = 0;
    const result = await autocannon({
      url: `http://127.0.0.1:${api.port}`,
      connections: settings.connections,
      amount: burstEvents.length,
      timeout: 30,
      requests: [{ setupRequest: (request) => ({ ...request, method: 'POST', path: '/webhooks/stripe', headers: burstEvents[next]!.headers, body: burstEvents[next++]!.payload }) }],
    });
    if (result['2xx'] !== burstEvents.length) throw new Error(`burst: ${result['2xx']} of ${burstEvents.length} answered 2xx`);
    await waitSettled(db, 20);
    const burstSeconds = (Date.now() - started) / 1000;
    const burst = delta(await snapshot(proxies, redis), before);
    if (perf) {
      const exited = new Promise((resolve) => perf.once('exit', resolve));
      perf.kill('SIGINT');
      await exited;
    }
    await checkTotals(db, burstInvoices, burstEvents.reduce((sum, e) => sum + e.amount, 0));

    await Promise.all([stop(api.child), stop(worker.child)]);
    report({ idle, sequential, burst, sequentialSeconds, burstSeconds });
  } finally {
    await Promise.all([...children].map(stop));
    await db.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
    await db.end();
    redis.disconnect();
    for (const side of Object.values(proxies)) await Promise.all([side.mysql.close(), side.redis.close()]);
    await privateRedis.kill();
    await privateMariaDb?.stop();
  }
}

const per = (n: number, events: number) => (n / events).toFixed(2);
const gcText = (gc: Record<string, { count: number; ms: number }>, events: number) =>
  Object.entries(gc)
    .map(([kind, t]) => `${kind} ${((t.count * 1000) / events).toFixed(1)}, ${((t.ms * 1000) / events).toFixed(0)} ms`)
    .join('; ');
const kb = (bytes: number, events: number) => (bytes / events / 1024).toFixed(2);

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function summary(d: Delta, events: number): (string | number)[][] {
  const both = (f: (side: Delta['api']) => number) => [per(f(d.api), events), per(f(d.worker), events), per(f(d.api) + f(d.worker), events)];
  const bytes = (f: (side: Delta['api']) => number) => [kb(f(d.api), events), kb(f(d.worker), events), kb(f(d.api) + f(d.worker), events)];
  const executed = Object.values(d.redisExecuted).reduce((a, b) => a + b, 0);
  return [
    ['per event', 'api', 'worker', 'total'],
    ['MariaDB round trips', ...both((s) => s.mysql.roundTrips)],
    ['MariaDB statements', ...both((s) => totalOf(s.mysql))],
    ['MariaDB KB sent (to the server)', ...bytes((s) => s.mysql.bytesOut)],
    ['MariaDB KB received', ...bytes((s) => s.mysql.bytesIn)],
    ['Redis commands sent', ...both((s) => totalOf(s.redis))],
    ['Redis reads at the proxy (≈ round trips; pipelined writes merge)', ...both((s) => s.redis.roundTrips)],
    ['Redis KB sent', ...bytes((s) => s.redis.bytesOut)],
    ['Redis KB received', ...bytes((s) => s.redis.bytesIn)],
    ['Redis commands executed (in scripts too)', '', '', per(executed, events)],
    ['redis-server: reads / writes / context switches', '', '', `${per(d.redisServer.syscr, events)} / ${per(d.redisServer.syscw, events)} / ${per(d.redisServer.switches, events)}`],
    ['CPU µs (loaded machine: indicative only)', ...[d.api.process.cpuSeconds, d.worker.process.cpuSeconds, d.api.process.cpuSeconds + d.worker.process.cpuSeconds].map((c) => Math.round((c * 1e6) / events))],
    ['redis-server CPU µs (private: ours alone)', '', '', Math.round((d.redisServer.cpuSeconds * 1e6) / events)],
    ...(d.mariadb ? [['mariadbd CPU µs (private: ours alone)', '', '', Math.round((d.mariadb.cpuSeconds * 1e6) / events)]] : []),
    ...(Object.keys(d.gc.api).length + Object.keys(d.gc.worker).length > 0
      ? [['GC per 1,000 events: collections, ms (--trace-gc)', gcText(d.gc.api, events), gcText(d.gc.worker, events), '']]
      : []),
  ];
}

function breakdown(d: Delta, events: number): string {
  const rows: (string | number)[][] = [['process', 'what', 'per event']];
  for (const side of ['api', 'worker'] as const) {
    for (const [kind, n] of Object.entries(d[side].mysql.byKind).sort((a, b) => b[1] - a[1])) rows.push([side, `SQL ${kind}`, per(n, events)]);
    for (const [kind, n] of Object.entries(d[side].redis.byKind).sort((a, b) => b[1] - a[1])) rows.push([side, `Redis ${kind}`, per(n, events)]);
  }
  const executed = Object.entries(d.redisExecuted).sort((a, b) => b[1] - a[1]);
  rows.push(['redis-server', 'executed: ' + executed.map(([name, n]) => `${name} ${per(n, events)}`).join(', '), '']);
  return table(rows);
}

function report(r: { idle: Delta; sequential?: Delta; burst: Delta; sequentialSeconds: number; burstSeconds: number }): void {
  const events = settings.events;
  const batches = (d: Delta) => {
    const inserts = Object.entries(d.api.mysql.byKind).filter(([k]) => k.startsWith('INSERT IGNORE stripe_events')).reduce((a, [, n]) => a + n, 0);
    const loads = d.worker.mysql.byKind['START TRANSACTION'] ?? 0;
    return `inbox INSERTs ${inserts} (${(events / Math.max(1, inserts)).toFixed(1)} events each); worker transactions ${loads} (${(events / Math.max(1, loads)).toFixed(1)} events each)`;
  };
  console.log(`\nCheckout: ${checkout}; ${events} payment_intent.succeeded over ${settings.invoices} invoices per pass\n`);
  if (r.sequential) {
    console.log(`One at a time (${r.sequentialSeconds.toFixed(1)} s; ${batches(r.sequential)}):\n`);
    console.log(table(summary(r.sequential, events)));
  }
  console.log(`\nBurst, ${settings.connections} connections (${r.burstSeconds.toFixed(1)} s; ${batches(r.burst)}):\n`);
  console.log(table(summary(r.burst, events)));
  const perSecond = (n: number) => (n / settings.idleSeconds).toFixed(1);
  const idleRate = (s: Delta['api']) =>
    `${perSecond(s.mysql.roundTrips)} SQL round trips/s, ${perSecond(totalOf(s.redis))} Redis commands/s, ${Math.round((s.process.cpuSeconds * 1000) / settings.idleSeconds)} ms CPU/s`;
  const servers = `redis-server ${Math.round((r.idle.redisServer.cpuSeconds * 1000) / settings.idleSeconds)} ms CPU/s${r.idle.mariadb ? `, mariadbd ${Math.round((r.idle.mariadb.cpuSeconds * 1000) / settings.idleSeconds)} ms CPU/s` : ''}`;
  console.log(`\nIdle background (not subtracted): api ${idleRate(r.idle.api)}; worker ${idleRate(r.idle.worker)}; ${servers}`);
  if (r.sequential) {
    console.log('\nOne at a time, by kind:\n');
    console.log(breakdown(r.sequential, events));
  }
  console.log('\nBurst, by kind:\n');
  console.log(breakdown(r.burst, events));
  const dir = path.join(repoRoot, '.bench');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'per-event-counts-latest.json'), `${JSON.stringify({ at: new Date().toISOString(), checkout, settings: { ...settings, mysql: undefined }, ...r }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    console.error('per-event counts failed:', error);
    await Promise.all([...children].map(stop));
    process.exit(1);
  },
);
