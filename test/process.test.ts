import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { REDIS_URL, trackDatabase, uniqueDatabaseUrl } from './helpers/test-database.js';
import { deleteKeys } from './helpers/test-service.js';
import { waitFor } from './helpers/wait-for.js';
import { npmStartScript, startArgs } from './helpers/start-command.js';

describe('npm start', () => {
  it('creates a missing database, migrates it, serves, and exits 0 within 15 s of SIGTERM', async function () {
    this.timeout(60_000);
    const databaseUrl = uniqueDatabaseUrl('process');
    trackDatabase(databaseUrl);
    const prefix = `billed-test-${randomBytes(4).toString('hex')}`;
    const child = spawn(process.execPath, startArgs(), {
      env: { ...process.env, PORT: '0', DATABASE_URL: databaseUrl, REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const port = await waitFor('the api to listen', () => /"message":"api listening","port":(\d+)/.exec(output)?.[1], 30_000);
      await waitFor('the worker to start', () => output.includes('worker started'), 10_000);
      // A newcomer sees which database it is on and what start-up did to it.
      const ready = JSON.parse(output.split('\n').find((line) => line.includes('"message":"database ready"')) ?? '{}') as Record<string, unknown>;
      assert.equal(ready.database, databaseUrl);
      assert.equal(ready.created, true);
      assert.ok(Number(ready.migrationsApplied) > 0, output);
      // Ready once MySQL and Redis both answer; under a loaded machine that can take a moment after listen.
      await waitFor('the service to be ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 15_000, 100);
      await waitFor('start-up to finish (signals handled)', () => output.includes('"message":"started"'), 10_000);
      const started = Date.now();
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, output);
      assert.ok(Date.now() - started < 15_000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await deleteKeys(REDIS_URL, `${prefix}:*`);
    }
  });

  it('runs when started through a symlinked path (macOS\'s /tmp, a linked deploy directory), instead of exiting 0 having done nothing', function () {
    this.timeout(20_000);
    const link = path.join(tmpdir(), `billed-link-${process.pid}-${randomBytes(3).toString('hex')}`);
    symlinkSync(fileURLToPath(new URL('..', import.meta.url)), link, 'dir');
    try {
      // A bad PORT stops main() at its first step with 78: a status only main() gives.
      const args = startArgs();
      args[args.length - 1] = path.join(link, args.at(-1)!);
      const result = spawnSync(process.execPath, args, { env: { ...process.env, PORT: 'not-a-port' }, encoding: 'utf8', timeout: 15_000 });
      assert.equal(result.status, 78, result.stderr);
    } finally {
      rmSync(link);
    }
  });

  it("runs node in place of npm's shell (exec), so SIGTERM from a process manager stops the service instead of orphaning it", async function () {
    this.timeout(60_000);
    assert.match(npmStartScript(), /^exec node /, 'npm start must exec node');
    const databaseUrl = uniqueDatabaseUrl('process_exec');
    trackDatabase(databaseUrl);
    const prefix = `billed-test-${randomBytes(4).toString('hex')}`;
    // The script as npm runs it (sh -c), on the sources: no build, and no developer's .env.
    const script = npmStartScript().replace(/ --env-file-if-exists=\S+/, '').replace(/dist\/src\/main\.js$/, '--import tsx src/main.ts');
    const child = spawn('sh', ['-c', script], {
      env: { ...process.env, PORT: '0', DATABASE_URL: databaseUrl, REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so an orphaned node can still be cleaned up below
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const port = await waitFor('the api to listen', () => /"message":"api listening","port":(\d+)/.exec(output)?.[1], 30_000);
      // Signals are handled once start-up is done; a SIGTERM before that ends the process at once.
      await waitFor('start-up to finish', () => output.includes('"message":"started"'), 30_000);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, `the shell's child exited ${code}: node did not get the signal\n${output}`);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'nothing answers once npm start has stopped');
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone: nothing was orphaned
      }
      await deleteKeys(REDIS_URL, `${prefix}:*`);
    }
  });

  it('exits 78 naming PORT when the port is taken, instead of hanging on an uncaught error', async function () {
    this.timeout(60_000);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as AddressInfo).port;
    const databaseUrl = uniqueDatabaseUrl('process_port');
    trackDatabase(databaseUrl);
    const prefix = `billed-test-${randomBytes(4).toString('hex')}`;
    const child = spawn(process.execPath, startArgs(), {
      env: { ...process.env, PORT: String(port), DATABASE_URL: databaseUrl, REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const [code] = (await Promise.race([once(child, 'exit'), new Promise((_, reject) => setTimeout(() => reject(new Error(`still running: ${output}`)), 30_000))])) as [number | null];
      assert.equal(code, 78, output);
      assert.match(output, new RegExp(`PORT: port ${port} is already in use on this machine: stop what listens there, or set PORT to a free port`));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      blocker.close();
      await deleteKeys(REDIS_URL, `${prefix}:*`);
    }
  });
});
