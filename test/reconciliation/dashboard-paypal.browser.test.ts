import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { TEST_ADMIN_TOKEN } from '../helpers/test-service.js';
import { itemsSettled, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { findChromium, openBrowserPage, type BrowserPage } from '../helpers/chromium.js';
import { connectMerchant, type Merchant } from '../helpers/merchants.js';
import { startFakePaypal, type FakePaypal } from '../helpers/fake-paypal.js';
import { connectPaypal } from '../helpers/paypal-merchant.js';
import { captureResource, paypalEvent } from '../helpers/paypal-events.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { payoutEvents } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';

/**
 * The accountant's page with PayPal beside Stripe (issue 17): each invoice's gateways and PayPal
 * figures, and the totals of each gateway side by side, where each is settled.
 */
describe('GET /dashboard with PayPal money, in a real browser', function () {
  this.timeout(120_000);
  let paypal: FakePaypal;
  let rig: ReconciliationRig;
  let browser: BrowserPage | undefined;
  let page: Page;
  let problems: string[] = [];
  let merchant: Merchant;
  const numbers: Record<string, string> = {};

  before(async () => {
    await findChromium();
    paypal = await startFakePaypal();
    rig = await startReconciliationRig('dashpp', { PAYPAL_API_BASE: paypal.url, PUBLIC_BASE_URL: 'https://billing.example.test' });
    merchant = await connectMerchant(rig.t, rig.fake, 'Delta Decor');
    const pp = await connectPaypal(rig.t, paypal, merchant.accountId);
    const invoice = async (key: string, amountDue: number) => {
      const id = await merchant.invoice(amountDue);
      numbers[key] = (await rig.t.query<{ number: string }>('SELECT number FROM invoices WHERE id = ?', [id]))[0]!.number;
      return id;
    };
    const byPaypal = await invoice('paypal', 5_000);
    const half = await invoice('half', 3_000);
    for (const [invoiceId, value, fee, net] of [[byPaypal, '50.00', '1.75', '48.25'], [half, '10.00', '0.64', '9.36']] as const) {
      const event = paypalEvent('PAYMENT.CAPTURE.COMPLETED', captureResource({ value, fee, net, customId: invoiceId }));
      assert.equal((await pp.deliver(event as { id: string })).status, 'processed');
    }
    const pay = paymentEvents({ invoiceId: half, amount: 2_000 });
    for (const event of [pay.paymentIntent('payment_intent.succeeded'), pay.charge('charge.succeeded')]) {
      await merchant.deliver(event);
      await merchant.settled(event.id);
    }
    const charge = txns.charge({ chargeId: pay.chargeId, paymentIntentId: pay.paymentIntentId, amount: 2_000, fee: 88 });
    const payout = payoutEvents({ amount: charge.net });
    rig.balance.set(payout.id, [txns.payout({ payoutId: payout.id, amount: charge.net, id: payout.balanceTransactionId }), charge]);
    for (const type of ['payout.created', 'payout.paid'] as const) {
      const event = payout.event(type);
      await merchant.deliver(event);
      await merchant.settled(event.id);
    }
    await itemsSettled(rig.t, payout.id);

    browser = await openBrowserPage();
    ({ page, problems } = browser);
  });

  after(async () => {
    await browser?.close();
    await rig?.stop();
    await paypal?.stop();
  });

  const rowOf = (number: string) => page.locator('#invoices tbody tr').filter({ has: page.locator('td.number', { hasText: number }) });

  it("shows each invoice's gateways and PayPal figures, and Stripe's and PayPal's totals side by side", async () => {
    await page.goto(`${rig.t.baseUrl}/dashboard`);
    await page.locator('#sign-in').waitFor();
    await page.fill('#sign-in input[name=token]', TEST_ADMIN_TOKEN);
    await page.click('#sign-in button[type=submit]');
    await page.locator('body[data-loaded]').waitFor({ state: 'attached' });

    const paypalOnly = rowOf(numbers.paypal!);
    assert.equal(await paypalOnly.locator('td.reconciliation').textContent(), 'reconciled');
    assert.equal(await paypalOnly.locator('td.gateways').textContent(), 'PayPal');
    assert.equal(await paypalOnly.locator('td.paypal').textContent(), '50.00 USD / 1.75 USD / 48.25 USD');
    assert.equal(await paypalOnly.locator('td.net').textContent(), '48.25 USD');

    const half = rowOf(numbers.half!);
    assert.equal(await half.locator('td.reconciliation').textContent(), 'reconciled');
    assert.equal(await half.locator('td.gateways').textContent(), 'PayPal + Stripe');
    assert.equal(await half.locator('td.fees').textContent(), '1.52 USD', "the card's 0.88 and PayPal's 0.64");
    assert.equal(await half.locator('td.paypal').textContent(), '10.00 USD / 0.64 USD / 9.36 USD');

    const stripe = page.locator('#gateway-totals tbody tr[data-gateway=stripe][data-currency=usd]');
    const pp = page.locator('#gateway-totals tbody tr[data-gateway=paypal][data-currency=usd]');
    assert.deepEqual(
      await Promise.all([stripe, pp].map((row) => row.locator('td').allTextContents())),
      [
        ['Stripe', 'USD', 'Stripe payouts', '1', '20.00 USD', '0.88 USD', '19.12 USD'],
        ['PayPal', 'USD', 'PayPal balance', '2', '60.00 USD', '2.39 USD', '57.61 USD'],
      ],
    );
    assert.deepEqual(problems, []);
  });
});
