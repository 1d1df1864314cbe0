import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findChromium } from './helpers/chromium.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MOCHA = fileURLToPath(new URL('../node_modules/mocha/bin/mocha.js', import.meta.url));
const INSTALL_LINE =
  'Chromium not found at /nonexistent/chromium: install it (Debian: apt-get install chromium; macOS: brew install --cask chromium, ' +
  'then set CHROMIUM_PATH=/Applications/Chromium.app/Contents/MacOS/Chromium) — the browser suites need it';

describe('the browser suites without Chromium', function () {
  this.timeout(60_000);

  it('findChromium rejects with the one line that says what to install, and no stack frames', async () => {
    const error = await findChromium('/nonexistent/chromium').then(
      () => assert.fail('found a Chromium at /nonexistent/chromium'),
      (e: unknown) => e as Error,
    );
    assert.equal(error.message, INSTALL_LINE);
    assert.equal(error.stack, INSTALL_LINE);
  });

  it('findChromium answers with the path of a program that can be run', async () => {
    assert.equal(await findChromium(process.execPath), process.execPath);
  });

  it('a browser suite run with CHROMIUM_PATH=/nonexistent/chromium fails in one line saying what to install', async () => {
    const run = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', MOCHA, '--no-config', '--reporter', 'spec', 'test/ops/queue-ui.browser.test.ts'],
        { cwd: ROOT, env: { ...process.env, CHROMIUM_PATH: '/nonexistent/chromium' }, timeout: 50_000 },
        (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, output: stdout + stderr }),
      );
    });
    assert.equal(run.code, 1, run.output);
    assert.ok(run.output.includes(`\n     ${INSTALL_LINE}\n`), run.output);
    assert.doesNotMatch(run.output, /^\s+at /m, 'no stack frame lines');
  });
});
