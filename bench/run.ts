/**
 * `npm run bench`: webhook ingestion throughput of the real service against a
 * straight-line receiver (verify → one INSERT → one queue add → 200, plain
 * Express), measured in the same run on the same machine. Not a timed test:
 * it prints the figures, whether the service reaches the baseline, and checks
 * that every 2xx left exactly one row (no lost or extra rows).
 *
 * Each receiver is a child process (`node --import tsx <entry>`) with a fresh
 * database `billed_bench_<random>_<receiver>` and a Redis prefix of its own;
 * autocannon runs in this process and sends a new, uniquely signed
 * payment_intent.succeeded event (Stripe's shape, test/helpers/stripe-objects.ts) on every request.
 * Order: warm-up of each, then straight-line, service, straight-line, service.
 * Everything the run created (children, databases, Redis keys) is removed at the end.
 *
 * Env: BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_WARMUP_SECONDS (2),
 * BENCH_ROUNDS (2), BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306),
 * BENCH_REDIS_URL (redis://127.0.0.1:6379), BENCH_CPU_PROF (service |
 * straight-line | both: write .cpuprofile files to .bench/profiles/),
 * BENCH_SERVICE_ENTRY (another entry for the service side, to measure a variant).
 * Results also go to .bench/ingestion-latest.json (.bench/ is gitignored).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { createDataSource, ensureDatabase } from '../src/db/data-source.js';
import { EVENT_QUEUE_NAME } from '../src/events/event-queue.js';
import { signedDelivery, stripeEvent, TEST_WEBHOOK_SECRET, uniqueId } from '../test/helpers/stripe-events.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(repoRoot, '.bench');

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const settings = {
  seconds: intEnv('BENCH_SECONDS', 10),
  connections: intEnv('BENCH_CONNECTIONS', 50),
  warmupSeconds: intEnv('BENCH_WARMUP_SECONDS', 2),
  rounds: intEnv('BENCH_ROUNDS', 2),
  mysqlRootUrl: (process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, ''),
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  cpuProf: process.env.BENCH_CPU_PROF ?? '',
  /** Another entry on the service side, to measure a variant (it must print `listening <port>` too). */
  serviceEntry: process.env.BENCH_SERVICE_ENTRY || undefined,
};

type ReceiverName = 'straight-line' | 'service';

interface Receiver {
  name: ReceiverName;
  entry: string;
  database: string;
  databaseUrl: string;
  prefix: string;
  child?: ChildProcess;
  port?: number;
}

interface RunResult {
  receiver: ReceiverName;
  label: string;
  seconds: number;
  connections: number;
  /** autocannon's mean of per-second samples of completed responses. */
  reqPerSec: number;
  okPerSec: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Rows of this run in stripe_events once the receiver has gone quiet. */
  rows: number;
  /** Rows of requests still in flight when autocannon stopped (stored, answer never read). */
  rowsCutOff: number;
  /** 2xx answered but no row: must be 0. */
  lost: number;
  /** Rows for a request answered non-2xx, or that was never sent: must be 0. */
  unexpected: number;
  /** Rows whose BullMQ job exists. */
  queued: number;
  /**
   * CPU µs per 2xx by process (Linux /proc and Redis INFO; null where unknown): less noisy than req/s on a
   * shared machine, and it shows where a receiver's time goes (its own process, MySQL, Redis).
   */
  cpuMicrosPerRequest: Record<CpuPart | 'total', number | null>;
  consistent: boolean;
}

const runId = randomBytes(3).toString('hex');
const mysqlUrl = (database: string) => `${settings.mysqlRootUrl}/${database}`;
const receivers: Receiver[] = (['straight-line', 'service'] as const).map((name) => {
  const short = name === 'service' ? 'service' : 'straight';
  const database = `billed_bench_${runId}_${short}`;
  return {
    name,
    entry:
      name === 'service'
        ? path.resolve(settings.serviceEntry ?? path.join(repoRoot, 'bench', 'service-entry.ts'))
        : path.join(repoRoot, 'bench', 'straight-line-receiver.ts'),
    database,
    databaseUrl: mysqlUrl(database),
    prefix: `billed-bench-${runId}-${short}`,
  };
});
const byName = (name: ReceiverName) => receivers.find((r) => r.name === name)!;

// ---------------------------------------------------------------- child processes

function spawnReceiver(receiver: Receiver): Promise<void> {
  const profiled = settings.cpuProf === 'both' || settings.cpuProf === receiver.name;
  const nodeArgs = profiled ? ['--cpu-prof', `--cpu-prof-dir=${path.join(resultsDir, 'profiles')}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', receiver.entry], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      PORT: '0',
      DATABASE_URL: receiver.databaseUrl,
      REDIS_URL: settings.redisUrl,
      QUEUE_PREFIX: receiver.prefix,
      STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      LOG_LEVEL: 'warn',
      // No worker runs, so every bench event stays `received`: keep the relay from
      // re-enqueueing them mid-run (it still polls, as in production).
      RELAY_AFTER_MS: String(3_600_000),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  receiver.child = child;
  const tag = `[${receiver.name}]`;
  createInterface({ input: child.stderr! }).on('line', (line) => console.error(tag, line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${receiver.name} did not start within 60 s`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match && receiver.port === undefined) {
        receiver.port = Number(match[1]);
        clearTimeout(timer);
        resolve();
      } else {
        console.error(tag, line);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (receiver.port === undefined) reject(new Error(`${receiver.name} exited before listening (code ${code}, signal ${signal})`));
    });
  });
}

async function stopReceiver(receiver: Receiver): Promise<void> {
  const child = receiver.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------- load

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a process in ms, from /proc (Linux only). */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine in ms (all cores; not idle, not iowait), from /proc/stat. */
function machineBusyMs(): number | null {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks;
    return ((user + nice + system + irq + softirq + steal) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

type CpuPart = 'receiver' | 'mysql' | 'redis' | 'loadGenerator' | 'other';
type CpuSnapshot = Record<CpuPart | 'machine', number | null>;

/** Where the CPU goes: the receiver, MySQL (if local), Redis, this process (autocannon + signing), and the machine. */
async function cpuSnapshot(receiver: Receiver, servers: Servers): Promise<CpuSnapshot> {
  const info = await servers.redis.info('cpu').catch(() => '');
  const redisSeconds = ['used_cpu_user', 'used_cpu_sys'].map((key) => Number(new RegExp(`${key}:([\\d.]+)`).exec(info)?.[1]));
  const usage = process.cpuUsage();
  return {
    receiver: processCpuMs(receiver.child?.pid),
    mysql: processCpuMs(servers.mysqlPid),
    redis: redisSeconds.every(Number.isFinite) ? (redisSeconds[0]! + redisSeconds[1]!) * 1000 : null,
    loadGenerator: (usage.user + usage.system) / 1000,
    other: null,
    machine: machineBusyMs(),
  };
}

/** µs of CPU per 2xx answer, per part; `other` is the rest of the machine (the idle receiver, anything else running). */
function cpuPerRequest(before: CpuSnapshot, after: CpuSnapshot, ok: number): Record<CpuPart | 'total', number | null> {
  const delta = (part: CpuPart | 'machine') => {
    const [a, b] = [before[part], after[part]];
    return a === null || b === null || ok === 0 ? null : ((b - a) * 1000) / ok;
  };
  const known = (['receiver', 'mysql', 'redis', 'loadGenerator'] as const).map(delta);
  const machine = delta('machine');
  const knownSum = known.every((v) => v !== null) ? known.reduce((a, b) => a! + b!, 0)! : null;
  return {
    receiver: known[0]!,
    mysql: known[1]!,
    redis: known[2]!,
    loadGenerator: known[3]!,
    other: machine !== null && knownSum !== null ? Math.max(0, machine - knownSum) : null,
    total: machine,
  };
}

interface Servers {
  db: mysql.Connection;
  redis: Redis;
  /** mariadbd/mysqld's pid when it runs on this machine and its pid file is readable. */
  mysqlPid?: number;
}

async function localMysqlPid(db: mysql.Connection): Promise<number | undefined> {
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(new URL(settings.mysqlRootUrl).hostname)) return undefined;
  try {
    const [[row]] = await db.query<mysql.RowDataPacket[]>('SELECT @@pid_file AS f');
    const pid = Number(readFileSync(String(row?.f), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function load(receiver: Receiver, label: string, tag: string, seconds: number, servers: Servers): Promise<RunResult> {
  const { db, redis } = servers;
  const sent = new Set<string>();
  const answered = new Map<string, number>();
  const cpuBefore = await cpuSnapshot(receiver, servers);
  const result: Result = await autocannon({
    url: `http://127.0.0.1:${receiver.port}`,
    connections: settings.connections,
    duration: seconds,
    pipelining: 1,
    timeout: 10,
    requests: [
      {
        setupRequest(request, context) {
          // A new event every time: a unique evt_ id (this run's tag, then random like Stripe's), a unique PaymentIntent.
          const id = `evt_${tag}${randomBytes(10).toString('hex')}`;
          const event = stripeEvent({
            type: 'payment_intent.succeeded',
            resource: 'payment_intent',
            id,
            object: { id: uniqueId('pi') },
          });
          const { payload, headers } = signedDelivery(JSON.stringify(event), TEST_WEBHOOK_SECRET);
          context.eventId = id;
          sent.add(id);
          return { ...request, method: 'POST', path: '/webhooks/stripe', headers, body: payload };
        },
        onResponse(status, _body, context) {
          answered.set(String(context.eventId), status);
        },
      },
    ],
  });

  const cpuAfter = await cpuSnapshot(receiver, servers);
  // Requests in flight at the stop still finish on the server: wait until the table stops growing.
  const pattern = `evt\\_${tag}%`;
  const count = async () => {
    const [rows] = await db.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${receiver.database}\`.stripe_events WHERE id LIKE ?`, [pattern]);
    return Number(rows[0]!.n);
  };
  let last = -1;
  let stable = 0;
  for (let i = 0; i < 80 && stable < 3; i++) {
    await sleep(250);
    const n = await count();
    stable = n === last ? stable + 1 : 0;
    last = n;
  }

  // The service records the batch job an event went in (queue_job); the straight-line receiver's table has no such column.
  const [rowList] = await db
    .query<mysql.RowDataPacket[]>(`SELECT id, queue_job FROM \`${receiver.database}\`.stripe_events WHERE id LIKE ?`, [pattern])
    .catch(() => db.query<mysql.RowDataPacket[]>(`SELECT id, NULL AS queue_job FROM \`${receiver.database}\`.stripe_events WHERE id LIKE ?`, [pattern]));
  const rows = new Set(rowList.map((row) => String(row.id)));
  const jobOf = new Map(rowList.map((row) => [String(row.id), row.queue_job ? String(row.queue_job) : String(row.id)]));
  const ok = [...answered].filter(([, status]) => status >= 200 && status < 300).map(([id]) => id);
  let lost = 0;
  for (const id of ok) if (!rows.has(id)) lost += 1;
  let unexpected = 0;
  let rowsCutOff = 0;
  for (const id of rows) {
    const status = answered.get(id);
    if (status === undefined) {
      if (sent.has(id)) rowsCutOff += 1;
      else unexpected += 1;
    } else if (status < 200 || status >= 300) {
      unexpected += 1;
    }
  }
  const queued = await countJobs(redis, receiver.prefix, [...rows].map((id) => jobOf.get(id)!));

  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count: n }]) => [code, n]));
  return {
    receiver: receiver.name,
    label,
    seconds,
    connections: settings.connections,
    reqPerSec: result.requests.average,
    okPerSec: result['2xx'] / (result.duration || seconds),
    latencyMs: {
      mean: result.latency.average,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    sent: sent.size,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    rows: rows.size,
    rowsCutOff,
    lost,
    unexpected,
    queued,
    cpuMicrosPerRequest: cpuPerRequest(cpuBefore, cpuAfter, result['2xx']),
    consistent: lost === 0 && unexpected === 0 && ok.length === result['2xx'] && rows.size === result['2xx'] + rowsCutOff,
  };
}

/** How many of these events have a BullMQ job: each id is the event's job (its batch job, or its own, jobId = event id). */
async function countJobs(redis: Redis, prefix: string, ids: string[]): Promise<number> {
  let found = 0;
  for (let i = 0; i < ids.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const id of ids.slice(i, i + 1000)) pipeline.exists(`${prefix}:${EVENT_QUEUE_NAME}:${id}`);
    const replies = (await pipeline.exec()) ?? [];
    for (const [error, exists] of replies) if (!error && exists === 1) found += 1;
  }
  return found;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- set-up and clean-up

async function migrate(databaseUrl: string): Promise<void> {
  await ensureDatabase(databaseUrl);
  const dataSource = createDataSource(databaseUrl, { poolSize: 1 });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await dataSource.destroy();
  }
}

let cleanedUp: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  return (cleanedUp ??= (async () => {
    await Promise.allSettled(receivers.map(stopReceiver));
    const root = await mysql.createConnection(settings.mysqlRootUrl).catch((error: unknown) => {
      console.error('clean-up: cannot reach MySQL to drop the bench databases:', String(error));
    });
    for (const { database } of receivers) {
      if (!/^billed_bench_[0-9a-f]{6}_(straight|service)$/.test(database)) continue; // never anything else
      await root?.query(`DROP DATABASE IF EXISTS \`${database}\``).catch((error: unknown) => {
        console.error(`clean-up: DROP DATABASE ${database} failed:`, String(error));
      });
    }
    await root?.end();
    const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      for (const { prefix } of receivers) {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          if (keys.length > 0) await redis.unlink(...keys);
          cursor = next;
        } while (cursor !== '0');
      }
    } catch (error) {
      console.error('clean-up: deleting the bench Redis keys failed:', String(error));
    } finally {
      redis.disconnect();
    }
  })());
}

// ---------------------------------------------------------------- report

/** A run during which other processes took this share of the machine's CPU is flagged: its req/s is not comparable. */
const DISTURBED_SHARE = 0.2;
const isDisturbed = (r: RunResult) => {
  const { other, total } = r.cpuMicrosPerRequest;
  return other !== null && total !== null && total > 0 && other / total > DISTURBED_SHARE;
};

const micros = (n: number | null) => (n === null ? 'n/a' : fmt(n));
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function report(runs: RunResult[], machine: Record<string, unknown>) {
  const measured = runs.filter((r) => r.label !== 'warm-up');
  const best = (name: ReceiverName) =>
    measured.filter((r) => r.receiver === name).reduce((a, b) => (b.reqPerSec > a.reqPerSec ? b : a));
  const straight = best('straight-line');
  const service = best('service');
  const ratio = service.reqPerSec / straight.reqPerSec;

  const header = ['receiver', 'run', 'req/s (mean)', '2xx/s', 'p50 ms', 'p99 ms', '2xx', 'non-2xx', 'errors', 'rows stored', 'cut off', 'queued', 'check'];
  const row = (r: RunResult, label = r.label) => [
    r.receiver,
    label,
    fmt(r.reqPerSec, 1),
    fmt(r.okPerSec, 1),
    fmt(r.latencyMs.p50),
    fmt(r.latencyMs.p99),
    fmt(r.ok),
    fmt(r.non2xx),
    fmt(r.errors + r.timeouts),
    fmt(r.rows),
    fmt(r.rowsCutOff),
    fmt(r.queued),
    r.consistent ? 'ok' : `FAIL (lost ${r.lost}, unexpected ${r.unexpected})`,
  ];

  console.log('');
  console.log(`Ingestion: ${settings.connections} connections × ${settings.seconds} s, a new signed payment_intent.succeeded event per request`);
  if (settings.serviceEntry) console.log(`(service side: ${settings.serviceEntry})`);
  console.log('');
  console.log(table([header, ...measured.map((r) => row(r)), ...[straight, service].map((r) => row(r, `best (${r.label})`))]));
  console.log('');
  console.log(
    `service / straight-line (best run of each, by req/s): ${fmt(service.reqPerSec, 1)} / ${fmt(straight.reqPerSec, 1)} = ${ratio.toFixed(2)}` +
      ` → ${ratio >= 1 ? 'meets' : 'BELOW'} the target (≥ 1.00)`,
  );
  const rounds = measured.filter((r) => r.receiver === 'service').map((s, i) => {
    const sl = measured.filter((r) => r.receiver === 'straight-line')[i];
    return sl ? (s.reqPerSec / sl.reqPerSec).toFixed(2) : 'n/a';
  });
  const cpuHeader = ['receiver', 'run', 'receiver process', 'MySQL', 'Redis', 'serving total', 'load generator', 'other', 'machine'];
  const cpuRow = (r: RunResult) => {
    const c = r.cpuMicrosPerRequest;
    const serving = c.receiver === null || c.mysql === null || c.redis === null ? null : c.receiver + c.mysql + c.redis;
    return [r.receiver, r.label, micros(c.receiver), micros(c.mysql), micros(c.redis), micros(serving), micros(c.loadGenerator), micros(c.other), micros(c.total)];
  };
  console.log('');
  console.log('CPU time per 2xx answer, µs (lower is better; less sensitive to other load on the machine than req/s):');
  console.log('');
  console.log(table([cpuHeader, ...measured.map(cpuRow)]));
  const disturbed = measured.filter(isDisturbed);
  if (disturbed.length > 0) {
    console.log(
      `WARNING: other processes took over ${DISTURBED_SHARE * 100}% of the machine's CPU during ` +
        `${disturbed.map((r) => `${r.receiver} ${r.label}`).join(', ')}: those figures are low; rerun on a quiet machine.`,
    );
  }
  console.log('');
  console.log(`per round (service / the straight-line run just before it): ${rounds.join(', ')}`);
  console.log(`p99: service ${fmt(service.latencyMs.p99)} ms, straight-line ${fmt(straight.latencyMs.p99)} ms (in the best runs)`);
  console.log('');
  console.log('Notes:');
  console.log('- req/s (mean) is autocannon\'s mean of per-second samples; 2xx/s is 2xx answers / run duration.');
  console.log('- rows stored = 2xx + cut off (requests in flight when the load stopped: stored, answer not read); "check" fails on any lost or extra row.');
  console.log('- Both receivers run without a worker (service ROLE=api): jobs are left waiting in the queue ("queued" = rows with a BullMQ job), then deleted.');
  console.log('- The service\'s relay keeps polling but RELAY_AFTER_MS=1h keeps it from re-enqueueing the unprocessed bench events.');
  console.log('- CPU: user + system time during the run / 2xx answers. serving total = receiver + MySQL + Redis (what ingestion costs);');
  console.log('  "other" = the rest of the machine (the idle receiver, anything else running): a large value means the run was disturbed.');
  console.log('- autocannon and event signing run in this process, on the same cores as the receivers, MySQL and Redis.');
  console.log(`- warm-up: ${settings.warmupSeconds} s per receiver before the measured runs (not in the table).`);
  console.log('');
  console.log(
    `Machine: ${machine.cpuModel} × ${machine.cpuCount}, ${machine.memoryGiB} GiB RAM, Node ${machine.node}, MySQL/MariaDB ${machine.mysql}, Redis ${machine.redis}`,
  );
  return { straight, service, ratio };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  process.once('SIGINT', () => {
    console.error('interrupted: cleaning up');
    void cleanUp().finally(() => process.exit(130));
  });

  const db = await mysql.createConnection(settings.mysqlRootUrl);
  const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const [[version]] = await db.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
    const cpus = os.cpus();
    const machine = {
      cpuModel: cpus[0]?.model ?? 'unknown',
      cpuCount: cpus.length,
      memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      mysql: String(version?.v),
      redis: redisVersion,
    };

    const servers: Servers = { db, redis, mysqlPid: await localMysqlPid(db) };
    console.error(`bench ${runId}: migrating ${byName('straight-line').database}; the service migrates ${byName('service').database} itself`);
    await migrate(byName('straight-line').databaseUrl);
    for (const receiver of receivers) await spawnReceiver(receiver);
    console.error(`listening: ${receivers.map((r) => `${r.name} :${r.port}`).join(', ')}`);

    const runs: RunResult[] = [];
    const progress = (r: RunResult) =>
      console.error(
        `  ${r.receiver} ${r.label}: ${fmt(r.reqPerSec, 1)} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ` +
          `2xx ${r.ok}, non-2xx ${r.non2xx}, rows ${r.rows}, receiver CPU ${micros(r.cpuMicrosPerRequest.receiver)} µs/req${r.consistent ? '' : ' INCONSISTENT'}`,
      );
    for (const receiver of receivers) {
      const run = await load(receiver, 'warm-up', 'w00x', settings.warmupSeconds, servers);
      progress(run);
      runs.push(run);
    }
    for (let round = 1; round <= settings.rounds; round++) {
      for (const receiver of receivers) {
        const tag = `r${String(round).padStart(2, '0')}x`;
        const run = await load(receiver, `run ${round}`, tag, settings.seconds, servers);
        progress(run);
        runs.push(run);
      }
    }

    const { straight, service, ratio } = report(runs, machine);
    mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, 'ingestion-latest.json');
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          at: new Date().toISOString(),
          settings: { ...settings, mysqlRootUrl: undefined, redisUrl: undefined },
          machine,
          runs: runs.map((r) => ({ ...r, disturbed: isDisturbed(r) })),
          best: { straightLine: straight.label, service: service.label },
          ratio,
          meetsTarget: ratio >= 1,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nResults: ${path.relative(repoRoot, file)}`);
    return runs.every((r) => r.consistent) ? 0 : 1;
  } finally {
    await db.end().catch(() => undefined);
    redis.disconnect();
    await cleanUp();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
    void cleanUp().finally(() => process.exit(1));
  },
);
