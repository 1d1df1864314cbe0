import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startArgs } from './helpers/start-command.js';
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
});
