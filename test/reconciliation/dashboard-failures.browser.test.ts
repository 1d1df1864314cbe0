import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { deliverInOrder } from '../helpers/billing-client.js';
import { TEST_ADMIN_TOKEN } from '../helpers/test-service.js';
import { itemsSettled, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { mixedPayout, paidInvoice } from '../helpers/payout-scenarios.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';
import { connectMerchant } from '../helpers/merchants.js';
import { findChromium, openBrowserPage, type BrowserPage } from '../helpers/chromium.js';

describe('GET /dashboard: failed payouts, nets, numbers and accounts', function () {
  this.timeout(120_000);
  let rig: ReconciliationRig;
  let browser: BrowserPage | undefined;
  let page: Page;
  let problems: string[] = [];
  let failedAfterPaid: Awaited<ReturnType<typeof mixedPayout>>;
  let failedAtOnce: ReturnType<typeof payoutEvents>;
  let refunded: Awaited<ReturnType<typeof paidInvoice>>;
  const longNumber = 'INV-2026-000123-WITH-A-LONG-SUFFIX';

  before(async () => {
    await findChromium();
    rig = await startReconciliationRig('dashfail');
    failedAfterPaid = await mixedPayout(rig, { numbers: [longNumber] });
    await deliverInOrder(rig.t, [failedAfterPaid.payout.event('payout.created'), failedAfterPaid.payout.event('payout.paid')]);
    await itemsSettled(rig.t, failedAfterPaid.payout.id);
    await deliverInOrder(rig.t, [failedAfterPaid.payout.event('payout.failed')]);
    failedAtOnce = payoutEvents({ amount: 1_000 });
    await deliverInOrder(rig.t, [failedAtOnce.event('payout.created'), failedAtOnce.event('payout.failed')]);
    refunded = await paidInvoice(rig, { amount: 48_100, fee: 1_522, extra: (pay) => [pay.charge('charge.refunded', { amountRefunded: 48_100 })] });
    // Its charge was paid out (fee known); its refund in no payout yet.
    const chargePayout = payoutEvents({ amount: 48_100 - 1_522 });
    rig.balance.set(chargePayout.id, refunded.txns);
    await deliverInOrder(rig.t, [chargePayout.event('payout.paid')]);
    await itemsSettled(rig.t, chargePayout.id);

    // A CSP violation or a script error shows up in problems: the page must run clean under helmet's policy.
    browser = await openBrowserPage();
    ({ page, problems } = browser);
  });

  after(async () => {
    await browser?.close();
    await rig?.stop();
  });

  const loaded = async (action: () => Promise<unknown>) => {
    const before = await page.locator('body').getAttribute('data-loaded');
    await action();
    await page.locator(`body[data-loaded]:not([data-loaded="${before ?? ''}"])`).waitFor({ state: 'attached' });
  };
  const payoutRow = (id: string) => page.locator(`#payouts tbody tr[data-payout-id="${id}"]`);
  const invoiceRow = (id: string) => page.locator(`#invoices tbody tr[data-invoice-id="${id}"]`);

  it("shows Stripe's failure code and message for a failed payout, and its invoices awaiting payout", async () => {
    await page.goto(`${rig.t.baseUrl}/dashboard`);
    await page.locator('#sign-in').waitFor();
    await loaded(async () => {
      await page.fill('#sign-in input[name=token]', TEST_ADMIN_TOKEN);
      await page.click('#sign-in button[type=submit]');
    });
    for (const id of [failedAfterPaid.payout.id, failedAtOnce.id]) {
      assert.equal(await payoutRow(id).locator('td.status').textContent(), 'failed: account_closed, The bank account has been closed.');
      assert.equal(await payoutRow(id).locator('td.tie-out').textContent(), 'failed');
    }
    assert.equal(await invoiceRow(failedAfterPaid.invoices.plain.id).getAttribute('data-reconciliation'), 'awaiting_payout');
    assert.match((await invoiceRow(failedAfterPaid.invoices.plain.id).locator('td.payouts').textContent()) ?? '', /\(failed: account_closed, The bank account has been closed\./);

    await payoutRow(failedAtOnce.id).locator('button').click();
    await page.locator('#payout-detail').waitFor();
    assert.equal(
      await page.locator('#payout-detail-id').textContent(),
      `${failedAtOnce.id}: 10.00 USD, failed (account_closed, The bank account has been closed.), transactions not fetched`,
    );
    assert.deepEqual(problems, []);
  });

  it('nets a refund known only from charge.refunded, and keeps invoice numbers on one line', async () => {
    const row = invoiceRow(refunded.id);
    assert.equal(await row.locator('td.net').textContent(), '-15.22 USD');
    assert.equal(await row.getAttribute('data-reconciliation'), 'awaiting_payout');
    const number = invoiceRow(failedAfterPaid.invoices.plain.id).locator('td.number');
    assert.equal(await number.textContent(), longNumber);
    assert.equal(await number.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { whiteSpace: string } }).getComputedStyle(el).whiteSpace), 'nowrap');
  });

  it('shows the payout that paid a failed payout again, and the invoices reconciled to it', async () => {
    const { payout, amount, invoices } = failedAfterPaid;
    const later = payoutEvents({ amount, arrivalDate: Date.UTC(2025, 9, 20) / 1000 });
    rig.balance.set(later.id, [
      txns.payout({ payoutId: later.id, amount, id: later.balanceTransactionId }),
      txns.payoutFailure({ failedPayoutId: payout.id, amount, id: payout.failureTransactionId }),
    ]);
    await deliverInOrder(rig.t, [later.event('payout.paid')]);
    await itemsSettled(rig.t, later.id);
    await loaded(() => page.click('#apply'));

    assert.equal(await payoutRow(payout.id).locator('td.status').textContent(), `failed: account_closed, The bank account has been closed. (paid again in ${later.id})`);
    assert.equal(await payoutRow(later.id).locator('td.tie-out').textContent(), 'ties out');
    const row = invoiceRow(invoices.plain.id);
    assert.equal(await row.getAttribute('data-reconciliation'), 'reconciled');
    assert.match((await row.locator('td.payouts').textContent()) ?? '', new RegExp(`paid again in ${later.id}\\), ${later.id} \\(paid, 2025-10-20\\)`));

    await payoutRow(later.id).locator('button').click();
    await page.locator('#payout-items tbody tr td.invoice', { hasText: `money of failed payout ${payout.id}` }).waitFor();
    assert.deepEqual(problems, []);
  });

  it('shows the account column only when the rows come from several accounts', async () => {
    assert.equal(await page.locator('#invoices thead th.account').isVisible(), false, 'one account: no column');
    const merchant = await connectMerchant(rig.t, rig.fake, 'Second shop');
    const theirs = await merchant.invoice(2_000);
    await loaded(() => page.click('#apply'));
    assert.equal(await page.locator('#invoices thead th.account').isVisible(), true);
    assert.equal(await invoiceRow(theirs).locator('td.account').textContent(), merchant.accountId);
    assert.equal(await invoiceRow(refunded.id).locator('td.account').textContent(), 'default');
    assert.deepEqual(problems, []);
  });
});
