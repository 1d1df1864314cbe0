import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { createToken } from '../helpers/ops-client.js';
import { findChromium, launchChromium } from '../helpers/chromium.js';

describe('queue UI in a real browser', function () {
  this.timeout(120_000);
  let t: TestService;
  let profile: string;
  let context: BrowserContext;

  before(async () => {
    // Before anything starts: without a browser the suite fails at once, saying what to install.
    await findChromium();
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui_browser') });
    profile = await mkdtemp(join(tmpdir(), 'billed-chromium-'));
    context = await launchChromium(profile);
  });
  after(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await t?.stop();
  });

  it("signs in through the login form (the token never in a URL), then runs on the cookie under helmet's CSP and lists its three queues", async () => {
    const { token } = await createToken(t, 'operator', 'browser-operator');
    const page = context.pages()[0] ?? (await context.newPage());
    const cspViolations: string[] = [];
    const scriptErrors: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on('pageerror', (error) => scriptErrors.push(error.message));

    const visited: string[] = [];
    page.on('request', (request) => visited.push(request.url()));
    await page.goto(`${t.baseUrl}/ops/queues`);
    assert.equal(new URL(page.url()).pathname, '/ops/queues/login', 'a browser without the cookie is sent to the form');
    await page.fill('input[name="token"]', token);
    await Promise.all([page.waitForURL(`${t.baseUrl}/ops/queues/`), page.click('button[type="submit"]')]);
    assert.ok(!visited.some((url) => url.includes(token)), 'the token is in no URL the browser asked for');
    // The board's own API calls (same origin, cookie only) fill in the queue list.
    await page.getByText('stripe-events').first().waitFor({ timeout: 20_000 });
    await page.getByText('payout-reconciliation').first().waitFor({ timeout: 20_000 });
    await page.getByText('maintenance').first().waitFor({ timeout: 20_000 });
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(scriptErrors, []);
    const cookies = await context.cookies(`${t.baseUrl}/ops/queues`);
    const cookie = cookies.find((c) => c.name === 'billed_ops_token');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict');
  });
});
