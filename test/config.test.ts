import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { npmStartCommand, startArgs } from './helpers/start-command.js';
import { loadConfig, ConfigError } from '../config/env.schema.js';

describe('configuration', () => {
  it('runs with no variables at all against local MySQL and Redis', () => {
    const config = loadConfig({});
    assert.equal(config.PORT, 3000);
    assert.equal(config.DATABASE_URL, 'mysql://root@127.0.0.1:3306/billed');
    assert.equal(config.REDIS_URL, 'redis://127.0.0.1:6379');
    assert.equal(config.ROLE, 'all');
    assert.deepEqual(config.STRIPE_WEBHOOK_SECRET, []);
  });

  it('reads comma-separated signing secrets, trimming spaces, for rotation', () => {
    const config = loadConfig({ STRIPE_WEBHOOK_SECRET: ' whsec_new , whsec_old ' });
    assert.deepEqual(config.STRIPE_WEBHOOK_SECRET, ['whsec_new', 'whsec_old']);
  });

  it('accepts a 32-byte ENCRYPTION_KEY as hex or base64', () => {
    assert.equal(loadConfig({ ENCRYPTION_KEY: 'ab'.repeat(32) }).ENCRYPTION_KEY?.length, 32);
    assert.equal(loadConfig({ ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }).ENCRYPTION_KEY?.length, 32);
  });

  it('reads TRUST_PROXY as Express takes it: false by default, true, a hop count, or a list of addresses/subnets', () => {
    assert.equal(loadConfig({}).TRUST_PROXY, false);
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY, true);
    assert.equal(loadConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY, false);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY, 2);
    assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,loopback, fd00::/8' }).TRUST_PROXY, ['10.0.0.0/8', '192.168.1.7', 'loopback', 'fd00::/8']);
    for (const bad of ['yes', '10.0.0.0/33', 'proxy.example.com', '1.2.3', '-1']) {
      assert.throws(() => loadConfig({ TRUST_PROXY: bad }), (error: ConfigError) => error.problems.some((p) => p.startsWith('TRUST_PROXY ')), bad);
    }
  });

  it('bounds the HTTP server by default (headers 10 s, request 30 s, keep-alive 5 s, 1,000 connections), and wants the headers timeout within the request timeout', () => {
    const config = loadConfig({});
    assert.deepEqual(
      [config.HTTP_HEADERS_TIMEOUT_MS, config.HTTP_REQUEST_TIMEOUT_MS, config.HTTP_KEEP_ALIVE_TIMEOUT_MS, config.HTTP_MAX_CONNECTIONS],
      [10_000, 30_000, 5_000, 1_000],
    );
    assert.throws(
      () => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '15000' }),
      (error: ConfigError) => error.problems.some((p) => p.startsWith('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS')),
    );
    assert.throws(() => loadConfig({ HTTP_MAX_CONNECTIONS: '0' }), (error: ConfigError) => error.problems.some((p) => p.startsWith('HTTP_MAX_CONNECTIONS ')));
  });

  it('wants METRICS_TOKEN long enough to be a secret', () => {
    assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN must be at least 16 characters/);
  });

  it('fails naming every bad variable at once', () => {
    assert.throws(
      () =>
        loadConfig({
          PORT: 'eighty',
          DATABASE_URL: 'postgres://localhost/billed',
          STRIPE_WEBHOOK_SECRET: 'sk_test_123',
          STRIPE_SECRET_KEY: 'pk_test_123',
          ENCRYPTION_KEY: 'short',
          ROLE: 'both',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        for (const name of ['PORT', 'DATABASE_URL', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_SECRET_KEY', 'ENCRYPTION_KEY', 'ROLE']) {
          assert.match(error.message, new RegExp(`\\b${name}\\b`), `${name} is named`);
        }
        return true;
      },
    );
  });

  it('requires DATABASE_URL to name a database', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1:3306' }), /DATABASE_URL must name a database, e\.g\. mysql:\/\/root@127\.0\.0\.1:3306\/billed/);
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/' }), /DATABASE_URL must name a database/);
  });

  it('refuses a DATABASE_URL whose user, password or database has a malformed %-escape, naming it, instead of failing later on URI malformed', () => {
    for (const url of ['mysql://r%ZZ@127.0.0.1:3306/billed', 'mysql://root:p%4@127.0.0.1:3306/billed', 'mysql://root@127.0.0.1:3306/bil%ZZled']) {
      assert.throws(() => loadConfig({ DATABASE_URL: url }), /DATABASE_URL has a malformed %-escape in its user, password or database name/);
    }
    assert.equal(loadConfig({ DATABASE_URL: 'mysql://b%40d:p%25ss@127.0.0.1:3306/billed' }).DATABASE_URL, 'mysql://b%40d:p%25ss@127.0.0.1:3306/billed');
  });

  it('requires ENCRYPTION_KEY when NODE_ENV=production', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /ENCRYPTION_KEY is required when NODE_ENV=production/);
  });

  it('stops `npm start` with a message naming the variable', function () {
    this.timeout(20_000);
    const result = spawnSync(process.execPath, startArgs(), {
      env: { ...process.env, PORT: 'not-a-port' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(result.status, 78);
    assert.match(result.stderr, /PORT/);
  });

  describe('.env', () => {
    // npm start's own flags, from package.json, run against the sources from another folder.
    const startFlags = () => npmStartCommand().slice(1, -1);
    const runIn = (folder: string, env: Record<string, string | undefined>) =>
      // tsx by absolute URL: the folder has no node_modules of its own.
      spawnSync(process.execPath, [...startFlags(), '--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, fileURLToPath(new URL('../src/main.ts', import.meta.url))], {
        cwd: folder,
        env: { ...process.env, PORT: undefined, ...env },
        encoding: 'utf8',
        // Two starts through tsx, each loading the sources: slow on a loaded machine, not a failure.
        timeout: 40_000,
      });

    it('is read by `npm start` from the folder it runs in, so a key written once is used on every start', function () {
      this.timeout(90_000);
      assert.ok(startFlags().includes('--env-file-if-exists=.env'), 'npm start does not load .env');
      const folder = mkdtempSync(path.join(tmpdir(), 'billed-env-'));
      try {
        writeFileSync(path.join(folder, '.env'), 'PORT=from-the-env-file\nROLE=from-the-env-file\n');
        const result = runIn(folder, { ROLE: undefined });
        assert.equal(result.status, 78, result.stderr);
        assert.match(result.stderr, /PORT/);
        assert.match(result.stderr, /ROLE/);
        // A variable set in the environment wins over the file.
        const overridden = runIn(folder, { ROLE: 'api' });
        assert.equal(overridden.status, 78, overridden.stderr);
        assert.match(overridden.stderr, /PORT/);
        assert.doesNotMatch(overridden.stderr, /ROLE/);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });
  });
});
