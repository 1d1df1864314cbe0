import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { createToken } from '../helpers/ops-client.js';
import { findChromium, launchChromium } from '../helpers/chromium.js';
import { createInvoice, deliver, deliverInOrder, getInvoice, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { waitFor } from '../helpers/wait-for.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../../src/events/handler-registry.js';
import { PAYOUT_QUEUE_NAME } from '../../src/reconciliation/payout-queue.js';

describe('queue UI in a real browser', function () {
  this.timeout(120_000);
  let t: TestService;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  /** charge.refunded fails until a test "deploys the fix". */
  let refundHandlerBroken = false;
  const registry: HandlerRegistry = {
    ...eventHandlers,
    'charge.refunded': async (handlerContext) => {
      if (refundHandlerBroken) throw new Error('refund ledger column missing');
      return eventHandlers['charge.refunded']!(handlerContext);
    },
  };

  before(async () => {
    // Before anything starts: without a browser the suite fails at once, saying what to install.
    await findChromium();
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('queue_ui_browser'), JOB_ATTEMPTS: '1' }, { registry });
    profile = await mkdtemp(join(tmpdir(), 'billed-chromium-'));
    context = await launchChromium(profile);
    page = context.pages()[0] ?? (await context.newPage());
  });
  after(async () => {
    refundHandlerBroken = false;
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await t?.stop();
  });

  it("signs in through the login form (the token never in a URL, the form's POST passing the origin check), then runs on the cookie under helmet's CSP and lists its three queues", async () => {
    const { token } = await createToken(t, 'operator', 'browser-operator');
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

  it("an operator's Pause is refused, and the board's message says it needs an admin; the queue keeps running", async () => {
    await page.goto(`${t.baseUrl}/ops/queues/queue/${PAYOUT_QUEUE_NAME}`);
    // The queue's menu (⋮) is the header's last button.
    await page.getByText('No workers').or(page.getByText('LATEST')).first().waitFor({ timeout: 20_000 });
    const answers: number[] = [];
    page.on('response', (response) => {
      if (response.url().endsWith(`/api/queues/${PAYOUT_QUEUE_NAME}/pause`)) answers.push(response.status());
    });
    await page.locator('button').last().click();
    await page.getByRole('menuitem', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('forbidden', { exact: true }).waitFor({ timeout: 10_000 });
    await page.getByText(/"pause" needs an admin token/).waitFor();
    assert.deepEqual(answers, [403]);
    const queues = (await page.request.get(`${t.baseUrl}/ops/queues/api/queues`)).json() as Promise<{ queues: { name: string; isPaused: boolean }[] }>;
    assert.equal((await queues).queues.find((q) => q.name === PAYOUT_QUEUE_NAME)?.isPaused, false);
  });

  it("Retry on a failed event's job runs the event again: the invoice gets its refund", async () => {
    const invoice = await createInvoice(t, { amountDue: 5000 });
    const payment = paymentEvents({ invoiceId: invoice.id, amount: 5000 });
    await deliverInOrder(t, [payment.paymentIntent('payment_intent.succeeded'), payment.charge('charge.succeeded')]);
    refundHandlerBroken = true;
    const refunded = payment.charge('charge.refunded', { amountRefunded: 5000 });
    await deliver(t, refunded);
    assert.equal((await settled(t, refunded.id)).status, 'failed');
    await waitFor('the job in the failed set', async () => (await t.queue.getJobState(refunded.id)) === 'failed');
    refundHandlerBroken = false; // the fix is deployed

    await page.goto(`${t.baseUrl}/ops/queues/queue/stripe-events?status=failed`);
    const card = page.locator('[class^="card-"]', { hasText: refunded.id });
    await card.waitFor({ timeout: 20_000 });
    // The job's actions are icon buttons with tooltips; Retry is the first.
    const retry = card.locator('ul li button').first();
    await retry.hover();
    await page.getByText('Retry', { exact: true }).waitFor();
    await retry.click();
    await page.getByText('Are you sure that you want to retry this job?').waitFor();
    const answer = page.waitForResponse((response) => response.url().endsWith(`/api/queues/stripe-events/${refunded.id}/retry`));
    await page.getByRole('button', { name: 'Confirm' }).click();
    assert.equal((await answer).status(), 204);
    await waitFor('the event processed again', async () => {
      const [row] = await t.query<{ status: string }>('SELECT status FROM stripe_events WHERE id = ?', [refunded.id]);
      return row?.status === 'processed';
    });
    assert.equal((await getInvoice(t, invoice.id)).status, 'refunded');
  });
});
