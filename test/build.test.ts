import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceProcess, exitWithin } from './helpers/service-process.js';
import { npmStartCommand, startArgs } from './helpers/start-command.js';
import { REDIS_URL, trackDatabase, uniqueDatabaseUrl } from './helpers/test-database.js';
import { deleteKeys } from './helpers/test-service.js';
import { waitFor } from './helpers/wait-for.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs a command to its end; its output in the failure message. */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** This environment without anything that could load a loader behind the test's back. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

// What production runs: `npm run build`'s output, started with npm start's node flags and no loader, from
// a directory outside the repository (the image's /app) whose node_modules holds every installed package
// but tsx. A compiled module or a start flag that still needs tsx fails there, where the repository's
// node_modules would have hidden it.
describe('npm run build, then the compiled service (what npm start and the image run)', function () {
  this.timeout(120_000);
  let tree: string;
  let built: { code: number | null; output: string; ms: number };

  before(async function () {
    this.timeout(180_000);
    tree = mkdtempSync(path.join(tmpdir(), 'billed-build-'));
    const started = Date.now();
    const result = await run('npm', ['run', '-s', 'build', '--', '--out-dir', path.join(tree, 'dist')], { cwd: ROOT });
    built = { ...result, ms: Date.now() - started };
    cpSync(path.join(ROOT, 'package.json'), path.join(tree, 'package.json'));
    cpSync(path.join(ROOT, 'bin'), path.join(tree, 'bin'), { recursive: true });
    mkdirSync(path.join(tree, 'node_modules'));
    for (const entry of readdirSync(path.join(ROOT, 'node_modules'))) {
      if (entry === 'tsx' || entry.startsWith('.')) continue;
      symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(tree, 'node_modules', entry), 'dir');
    }
  });
  after(() => {
    if (tree) rmSync(tree, { recursive: true, force: true });
  });

  it('compiles config/, src/ and workers/ (not test/ or bench/), with the dashboard files beside the code that serves them', () => {
    assert.equal(built.code, 0, built.output);
    const dist = path.join(tree, 'dist');
    assert.deepEqual(readdirSync(dist).filter((entry) => !entry.startsWith('.')).sort(), ['config', 'src', 'workers']);
    for (const file of ['src/main.js', 'config/env.schema.js', 'src/ops/cli/main.js', 'src/dashboard/dashboard.html', 'src/dashboard/dashboard.css', 'src/dashboard/dashboard.js']) {
      assert.ok(existsSync(path.join(dist, file)), `dist/${file}`);
    }
  });

  it('builds again only when the sources changed (npm start\'s prestart)', async () => {
    const again = await run(process.execPath, ['scripts/build.js', '--if-stale', '--out-dir', path.join(tree, 'dist')], { cwd: ROOT });
    assert.equal(again.code, 0, again.output);
    assert.equal(again.output, '', 'nothing to build');
    assert.ok(existsSync(path.join(tree, 'dist', 'src', 'main.js')));
  });

  it('runs in a directory where tsx cannot be found', () => {
    const probe = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('tsx').then(() => process.exit(0), () => process.exit(3))"], { cwd: tree, env: plainEnv() });
    assert.equal(probe.status, 3, 'tsx resolves from the test tree, so the test proves nothing');
    assert.ok(existsSync(path.join(tree, 'node_modules', 'express')));
  });

  it('starts with npm start\'s node flags and no loader, serves /healthz, /readyz and the dashboard, and exits 0 on SIGTERM', async () => {
    const [, ...flags] = npmStartCommand();
    assert.equal(flags.at(-1), 'dist/src/main.js', 'npm start runs the compiled entry');
    assert.ok(!flags.some((flag) => /^--(import|loader|experimental-loader|require)\b|^-r$|\btsx\b/.test(flag)), `npm start loads no TypeScript loader: ${flags.join(' ')}`);
    assert.equal(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).dependencies.tsx, undefined);

    const databaseUrl = uniqueDatabaseUrl('build');
    trackDatabase(databaseUrl);
    const prefix = `billed-test-${randomBytes(4).toString('hex')}`;
    const service = await ServiceProcess.start('compiled', 'all', { PORT: '0', DATABASE_URL: databaseUrl, REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' }, 60_000, {
      args: startArgs('compiled'),
      cwd: tree,
      baseEnv: plainEnv(),
    });
    try {
      if (existsSync('/proc/self/cmdline')) {
        // What the process was really started with (Linux): no --import slipped in.
        assert.deepEqual(readFileSync(`/proc/${service.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1), startArgs('compiled'));
      }
      await waitFor('/readyz to answer 200', async () => (await fetch(`${service.baseUrl}/readyz`)).status === 200, 15_000, 100);
      assert.equal((await fetch(`${service.baseUrl}/healthz`)).status, 200);
      const page = await fetch(`${service.baseUrl}/dashboard`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(await page.text(), readFileSync(path.join(ROOT, 'src/dashboard/dashboard.html'), 'utf8'));
      for (const [file, type] of [['dashboard.js', /^text\/javascript/], ['dashboard.css', /^text\/css/]] as const) {
        const res = await fetch(`${service.baseUrl}/dashboard/${file}`);
        assert.equal(res.status, 200, file);
        assert.match(res.headers.get('content-type') ?? '', type);
      }
      service.signal('SIGTERM');
      const exit = await exitWithin(service, 15_000);
      assert.equal(exit.code, 0, service.tail());
    } finally {
      await service.kill();
      await deleteKeys(REDIS_URL, `${prefix}:*`);
    }
  });

  it('starts through a symlinked path too (macOS\'s /tmp, a linked deploy directory), instead of exiting 0 doing nothing', () => {
    const link = `${tree}-link`;
    symlinkSync(tree, link, 'dir');
    try {
      const result = spawnSync(process.execPath, startArgs('compiled'), { cwd: link, env: { ...plainEnv(), PORT: 'not-a-port' }, encoding: 'utf8', timeout: 15_000 });
      assert.equal(result.status, 78, result.stderr);
      assert.match(result.stderr, /PORT/);
    } finally {
      rmSync(link);
    }
  });

  it('runs the ops CLI (bin/billed-ops.js) from dist/', async () => {
    const help = await run(process.execPath, ['bin/billed-ops.js', '--help'], { cwd: tree, env: plainEnv() });
    assert.equal(help.code, 0, help.output);
    assert.match(help.output, /Usage: billed-ops/);
  });
});
