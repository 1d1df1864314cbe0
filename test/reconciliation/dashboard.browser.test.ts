import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { createInvoice, deliverInOrder } from '../helpers/billing-client.js';
import { TEST_ADMIN_TOKEN } from '../helpers/test-service.js';
import { itemsSettled, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { mixedPayout } from '../helpers/payout-scenarios.js';
import { findChromium, openBrowserPage, type BrowserPage } from '../helpers/chromium.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { scopedToken } from '../helpers/account-scopes.js';

describe('GET /dashboard in a real browser', function () {
  this.timeout(120_000);
  let rig: ReconciliationRig;
  let browser: BrowserPage | undefined;
  let page: Page;
  let problems: string[] = [];
  let reconciled: Awaited<ReturnType<typeof mixedPayout>>;
  let discrepant: Awaited<ReturnType<typeof mixedPayout>>;
  let euroInvoice: { id: string; number: string };
  let alpha: Merchant;
  let alphaInvoices: string[];
  let betaInvoice: string;
  let alphaToken: string;

  before(async () => {
    // Before anything starts: without a browser the suite fails at once, saying what to install.
    await findChromium();
    rig = await startReconciliationRig('dashboard');
    reconciled = await mixedPayout(rig, { arrivalDate: Date.UTC(2025, 9, 14) / 1000 });
    discrepant = await mixedPayout(rig, { skew: 250, arrivalDate: Date.UTC(2025, 9, 15) / 1000 });
    for (const { payout } of [reconciled, discrepant]) {
      await deliverInOrder(rig.t, [payout.event('payout.created'), payout.event('payout.paid')]);
      await itemsSettled(rig.t, payout.id);
    }
    euroInvoice = await createInvoice(rig.t, { currency: 'eur', amountDue: 9_900 });
    // Two merchants besides the default account: a bookkeeper's token confined to the first.
    alpha = await connectMerchant(rig.t, rig.fake, 'Alpha Books');
    const beta = await connectMerchant(rig.t, rig.fake, 'Beta Books');
    alphaInvoices = [await alpha.invoice(1_200), await alpha.invoice(3_400)];
    betaInvoice = await beta.invoice(5_600);
    alphaToken = (await scopedToken(rig.t, 'accountant', alpha.accountId)).token;

    // A CSP violation or a script error shows up in problems: the page must run clean under helmet's policy.
    browser = await openBrowserPage();
    ({ page, problems } = browser);
  });

  after(async () => {
    await browser?.close();
    await rig?.stop();
  });

  const rowOf = (number: string) => page.locator('#invoices tbody tr').filter({ has: page.locator('td.number', { hasText: number }) });
  const loaded = async (action: () => Promise<unknown>) => {
    // The page stamps body[data-loaded] each time it has rendered a fresh answer.
    const before = await page.locator('body').getAttribute('data-loaded');
    await action();
    // A selector, not a function: the page's CSP (rightly) forbids the eval a string function would need.
    await page.locator(`body[data-loaded]:not([data-loaded="${before ?? ''}"])`).waitFor({ state: 'attached' });
  };

  it('asks for a token, keeps it for the tab, and loads totals, invoices and payouts with it', async () => {
    const res = await page.goto(`${rig.t.baseUrl}/dashboard`);
    assert.equal(res?.status(), 200);
    assert.match(res!.headers()['content-security-policy'] ?? '', /script-src 'self'/, "helmet's CSP is in force");
    await page.locator('#sign-in').waitFor();
    assert.equal(await page.locator('#app').isHidden(), true, 'no data without a token');

    await loaded(async () => {
      await page.fill('#sign-in input[name=token]', TEST_ADMIN_TOKEN);
      await page.click('#sign-in button[type=submit]');
    });
    assert.equal(await page.evaluate('sessionStorage.getItem("billed.token")'), TEST_ADMIN_TOKEN);
    await page.locator('#scope:not([hidden])').waitFor();
    assert.equal(await page.locator('#scope').textContent(), 'All merchant accounts');
    assert.equal(await page.locator('#totals tbody tr[data-currency=usd] td').first().textContent(), 'USD');
    assert.equal(await page.locator('#totals tbody tr[data-currency=eur]').count(), 1);
    assert.equal(await page.locator(`#payouts tbody tr[data-payout-id="${discrepant.payout.id}"] td.tie-out`).textContent(), 'does not tie out');
    assert.equal(await page.locator(`#payouts tbody tr[data-payout-id="${discrepant.payout.id}"] td.difference`).textContent(), '2.50 USD');
    assert.equal(await page.locator(`#payouts tbody tr[data-payout-id="${reconciled.payout.id}"] td.tie-out`).textContent(), 'ties out');

    // The invoices that need attention come first.
    const states = await page.locator('#invoices tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-reconciliation')));
    assert.deepEqual(states.slice(0, 3), ['discrepancy', 'discrepancy', 'discrepancy']);
    assert.deepEqual(problems, []);
  });

  it('filters by currency and reads a reconciled and a discrepant invoice off the page', async () => {
    await loaded(async () => {
      await page.fill('#filters input[name=currency]', 'USD');
      await page.click('#apply');
    });
    assert.equal(await page.locator('#totals tbody tr').count(), 1, 'only USD totals');
    assert.equal(await rowOf(euroInvoice.number).count(), 0, 'the euro invoice is filtered out');

    const good = rowOf(reconciled.invoices.plain.number);
    assert.equal(await good.locator('td.reconciliation').textContent(), 'reconciled');
    assert.equal(await good.locator('td.fees').textContent(), '3.20 USD');
    assert.equal(await good.locator('td.net').textContent(), '96.80 USD');
    assert.match((await good.locator('td.payouts').textContent()) ?? '', new RegExp(`${reconciled.payout.id} \\(paid, 2025-10-14\\)`));

    const bad = rowOf(discrepant.invoices.plain.number);
    assert.equal(await bad.locator('td.reconciliation').textContent(), 'discrepancy');
    assert.equal(await bad.locator('td.why').getAttribute('data-reason'), 'does_not_tie_out');
    assert.match((await bad.locator('td.why').textContent()) ?? '', /difference 2\.50 USD/);

    await loaded(async () => {
      await page.selectOption('#filters select[name=reconciliation]', 'discrepancy');
      await page.click('#apply');
    });
    const shown = await page.locator('#invoices tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-number')));
    assert.deepEqual(shown.sort(), Object.values(discrepant.invoices).map((i) => i.number).sort());
    assert.deepEqual(problems, []);
  });

  it('downloads the same rows as CSV, and stays signed in across a reload', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    const csv = await readFile((await download.path())!, 'utf8');
    const lines = csv.trimEnd().split('\r\n');
    assert.match(lines[0]!, /^record_type,id,invoice_number,/);
    assert.equal(lines.length - 1, 3, 'the three discrepant invoices, as filtered');
    for (const invoice of Object.values(discrepant.invoices)) assert.ok(csv.includes(invoice.id));

    await loaded(() => page.reload());
    assert.equal(await page.locator('#sign-in').isHidden(), true);
    assert.deepEqual(problems, []);
  });

  it("labels the page with the one merchant a scoped token sees, and shows that merchant's rows only", async () => {
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor();
    await loaded(async () => {
      await page.fill('#sign-in input[name=token]', alphaToken);
      await page.click('#sign-in button[type=submit]');
    });
    await page.locator('#scope:not([hidden])').waitFor();
    assert.equal(await page.locator('#scope').textContent(), `Merchant: Alpha Books (${alpha.accountId})`);
    assert.equal(await page.locator('#scope').getAttribute('data-account-id'), alpha.accountId);
    // The filters of the earlier tests are still set; clear them for every row the token may see.
    await loaded(async () => {
      await page.fill('#filters input[name=currency]', '');
      await page.selectOption('#filters select[name=reconciliation]', '');
      await page.click('#apply');
    });
    const shown = await page.locator('#invoices tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-invoice-id')));
    assert.deepEqual(shown.sort(), [...alphaInvoices].sort(), 'its two invoices, nothing of the other merchant or the default account');
    assert.ok(!shown.includes(betaInvoice));
    assert.equal(await page.locator('#payouts tbody tr').count(), 0, "the default account's payouts are not shown");
    assert.equal(await page.locator('#totals tbody tr[data-currency=eur]').count(), 0, "the default account's euro invoice is not in the totals");
    assert.deepEqual(problems, []);
  });
});
